"""Patients in the vault: find, read, erase, and the erasure reconciliation."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from coffre import access
from coffre.access import Action, DataRequest, Decision, Purpose
from coffre.crypto import IndexKind
from coffre.identity import Actor, ActorKind
from coffre.journal import EventKind, Outcome
from coffre.records.categories import Category, ErasureReason
from coffre.records.errors import (
    InvalidQuery,
    PatientErased,
    PatientNotFound,
    VersionConflict,
    VersionNotKept,
)
from coffre.records.fhir import INSZ_SYSTEM, NIR_SYSTEM, join_patient, parse_patient
from coffre.records.gate import (
    decide_on_patient,
    decide_or_refuse,
    organisation_for,
    record,
    refuse,
)
from coffre.records.importing import patient_index_rows
from coffre.records.tables import erasures, patient_index, patients
from coffre.records.vault import Vault
from coffre.store import Lean, UnitOfWork


@dataclass(frozen=True)
class FindCriteria:
    nir: str | None = None
    insz: str | None = None
    email: str | None = None
    phone: str | None = None
    family: str | None = None
    birth_date: str | None = None


def digests_for(vault: Vault, criteria: FindCriteria) -> tuple[IndexKind, list[bytes]]:

    blind = vault.blind
    given = {k: v for k, v in vars(criteria).items() if v}
    if given.keys() == {"nir"}:
        return IndexKind.NATIONAL_ID, [blind.national_id(NIR_SYSTEM, criteria.nir or "")]
    if given.keys() == {"insz"}:
        return IndexKind.NATIONAL_ID, [blind.national_id(INSZ_SYSTEM, criteria.insz or "")]
    if given.keys() == {"email"}:
        return IndexKind.EMAIL, [blind.email(criteria.email or "")]
    if given.keys() == {"phone"}:
        found = blind.phones(criteria.phone or "", vault.settings.phone_regions)
        if not found:
            raise InvalidQuery("The phone number is not a number Coffre can read.")
        return IndexKind.PHONE, found
    if given.keys() == {"family", "birth_date"}:
        try:
            datetime.strptime(criteria.birth_date or "", "%Y-%m-%d")
        except ValueError:
            raise InvalidQuery("The birth date must be written YYYY-MM-DD.") from None
        spellings = blind.family_birth_spellings(criteria.family or "", criteria.birth_date or "")
        return IndexKind.FAMILY_BIRTH, spellings
    raise InvalidQuery(
        "Search by exactly one of: NIR, INSZ, e-mail, phone, or family name with birth date."
    )


def find_patients(
    uow: UnitOfWork,
    vault: Vault,
    actor: Actor,
    criteria: FindCriteria,
    purpose: Purpose = Purpose.IDENTIFICATION,
) -> list[str]:
    """Ids of the patients matching the criteria through the blind indexes (maybe empty)."""
    kind, digests = digests_for(vault, criteria)
    with uow:
        decision = decide_or_refuse(
            uow, actor, Action.FIND, purpose, EventKind.PATIENT_SEARCH, (), [f"index:{kind.value}"]
        )
        found = sorted(
            uow.connection.execute(
                sa.select(patient_index.c.patient_id)
                .where(patient_index.c.kind == kind.value, patient_index.c.digest.in_(digests))
                .distinct()
            ).scalars()
        )
        record(
            uow,
            actor,
            decision,
            EventKind.PATIENT_SEARCH,
            Outcome.SUCCESS,
            purpose,
            found,
            [f"index:{kind.value}"],
        )
        uow.commit()
    return found


# Built once: the statement is on every read's path.
_PATIENT_BY_ID = Lean(sa.select(patients).where(patients.c.id == sa.bindparam("id")))


def load_patient_row(uow: UnitOfWork, patient_id: str) -> sa.Row[Any]:
    """The patient's sealed row; raise PatientErased or PatientNotFound."""
    row = _PATIENT_BY_ID.first(uow.connection, {"id": patient_id})
    if row is not None:
        return row
    erased = uow.connection.execute(
        sa.select(erasures.c.patient_id).where(erasures.c.patient_id == patient_id)
    ).first()
    if erased is not None:
        raise PatientErased(
            f"Patient {patient_id} was erased; only the record of the erasure remains."
        )
    raise PatientNotFound(f"There is no patient with id {patient_id}.")


def load_or_journal_failure(
    uow: UnitOfWork,
    actor: Actor,
    decision: Decision,
    kind: EventKind,
    purpose: Purpose,
    patient_id: str,
) -> sa.Row[Any]:
    """The patient's sealed row; if there is none, journal the failed attempt, commit it and
    raise PatientNotFound or PatientErased."""
    try:
        return load_patient_row(uow, patient_id)
    except (PatientNotFound, PatientErased):
        record(uow, actor, decision, kind, Outcome.FAILED, purpose, [patient_id])
        uow.commit()
        raise


def decide_item_read(
    uow: UnitOfWork,
    vault: Vault,
    actor: Actor,
    request: DataRequest,
    kind: EventKind,
    patient_id: str,
    item_id: str,
) -> sa.Row[Any]:
    """Decide a read of one item (an entry, a document) of the patient's record, journal
    the outcome, denied, failed or allowed, and commit; return the patient's sealed row to
    open the item with. Raises AccessDenied, PatientNotFound or PatientErased."""
    now = datetime.now(UTC)
    decision, _ = decide_on_patient(uow, vault, actor, request, kind, patient_id, now, [item_id])
    row = load_or_journal_failure(uow, actor, decision, kind, request.purpose, patient_id)
    record(uow, actor, decision, kind, Outcome.SUCCESS, request.purpose, [patient_id], [item_id])
    uow.commit()
    return row


def open_patient(vault: Vault, row: sa.Row[Any], *, with_contact: bool = True) -> dict[str, Any]:
    """The Patient resource from its sealed row, with its version (raises KeyDestroyed if
    erased meanwhile); its contact details are opened only when asked."""
    box = vault.box(row.organisation_id, row.id, row.key_version)
    identity = box.open_json("patients", "identity", row.id, row.identity)
    contact = box.open_json("patients", "contact", row.id, row.contact) if with_contact else {}
    resource = join_patient(row.id, identity, contact)
    updated = row.updated_at if row.updated_at.tzinfo else row.updated_at.replace(tzinfo=UTC)
    resource["meta"] = {
        "versionId": str(row.version),
        "lastUpdated": updated.astimezone(UTC).isoformat(timespec="seconds"),
    }
    return resource


PATIENT_CATEGORIES = frozenset({Category.IDENTITY, Category.CONTACT})
PATIENT_RESOURCE = frozenset({"Patient"})


def read_patient(
    uow: UnitOfWork,
    vault: Vault,
    actor: Actor,
    patient_id: str,
    purpose: Purpose,
    *,
    version: int | None = None,
) -> dict[str, Any]:
    """The patient as a FHIR Patient resource, after an allowing decision journaled and
    committed: identity, and contact details only for those who may read them. With
    `version`, only that version: any other is not kept, so nothing is opened and the read
    is journaled as failed (VersionNotKept). Raises AccessDenied, PatientNotFound,
    PatientErased or VersionNotKept."""
    now = datetime.now(UTC)
    with uow:
        organisation = organisation_for(uow, actor, patient_id)
        categories = (
            access.readable(actor, PATIENT_CATEGORIES, patient_organisation_id=organisation)
            or PATIENT_CATEGORIES
        )
        decision, _ = decide_on_patient(
            uow,
            vault,
            actor,
            DataRequest(Action.READ, purpose, categories, resources=PATIENT_RESOURCE),
            EventKind.PATIENT_READ,
            patient_id,
            now,
        )
        row = load_or_journal_failure(
            uow, actor, decision, EventKind.PATIENT_READ, purpose, patient_id
        )
        if version is not None and version != row.version:
            record(
                uow, actor, decision, EventKind.PATIENT_READ, Outcome.FAILED, purpose, [patient_id]
            )
            uow.commit()
            raise VersionNotKept(
                f"That version of the patient is not kept; only the current version "
                f"({row.version}) is."
            )
        record(uow, actor, decision, EventKind.PATIENT_READ, Outcome.SUCCESS, purpose, [patient_id])
        uow.commit()
    return open_patient(vault, row, with_contact=Category.CONTACT in categories)


def erase_patient(
    uow: UnitOfWork, vault: Vault, actor: Actor, patient_id: str, reason: ErasureReason
) -> int:
    """Delete the patient's rows, keep a tombstone, then destroy the data key.

    Returns the journal sequence number of the erasure. If the process dies between the
    commit and the key destruction, `reconcile_erasures` finishes the job at next start.
    """
    kind = EventKind.PATIENT_ERASE
    with uow:
        organisation = uow.connection.execute(
            sa.select(patients.c.organisation_id).where(patients.c.id == patient_id)
        ).scalar()
        decision = access.decide_token(actor, PATIENT_RESOURCE, "d") or access.decide_erasure(
            actor, Purpose.ERASURE, organisation
        )
        if not decision.allowed:
            refuse(uow, actor, decision, kind, Purpose.ERASURE, [patient_id])
        row = load_patient_row(uow, patient_id)
        if not uow.connection.execute(
            patients.delete().where(patients.c.id == patient_id)
        ).rowcount:
            # Erased by another request since it was read (PostgreSQL: the delete waited for
            # that one's commit): nothing to do twice.
            raise PatientErased(
                f"Patient {patient_id} was erased; only the record of the erasure remains."
            )
        seq = record(
            uow,
            actor,
            decision,
            EventKind.PATIENT_ERASE,
            Outcome.SUCCESS,
            Purpose.ERASURE,
            [patient_id],
            [f"erasure-reason:{reason.value}"],
        )
        uow.connection.execute(
            erasures.insert().values(
                patient_id=patient_id,
                organisation_id=row.organisation_id,
                erased_at=datetime.now(UTC),
                reason=reason.value,
                journal_seq=seq,
            )
        )
        uow.commit()
    vault.keyring.destroy([patient_id])
    return seq


SYSTEM = Actor(kind=ActorKind.SYSTEM, id="system:coffre", source="local")


def reconcile_erasures(uow: UnitOfWork, vault: Vault) -> list[str]:
    """Destroy again the keys of erased patients that the key store still holds (after a key
    store was restored from an older copy, or an erasure was interrupted); return their ids."""
    with uow.reading() as reader:
        erased = list(reader.connection.execute(sa.select(erasures.c.patient_id)).scalars())
    if not erased:
        return []
    lingering = vault.keyring.store.subjects_with_keys(erased)
    if not lingering:
        return []
    decision = Decision(
        True,
        "erasure-reconcile",
        "erased patients' keys found in the key store are destroyed again",
        {"count": str(len(lingering))},
    )
    with uow:
        record(
            uow,
            SYSTEM,
            decision,
            EventKind.KEY_RECONCILE,
            Outcome.SUCCESS,
            Purpose.ERASURE,
            lingering,
        )
        uow.commit()
    vault.keyring.destroy(lingering)
    return lingering


def update_patient(
    uow: UnitOfWork,
    vault: Vault,
    actor: Actor,
    patient_id: str,
    resource: dict[str, Any],
    purpose: Purpose,
    *,
    expected_version: int | None = None,
) -> int:
    """Replace the patient's identity and contact details (a write of both categories) and
    their search indexes; return the new version. With `expected_version`, refuse (journaled
    as failed) when the record is at another version. Raises InvalidResource, AccessDenied,
    VersionConflict, PatientNotFound or PatientErased; nothing changes then."""
    data = parse_patient(json.dumps(resource), vault.settings.phone_regions)
    now = datetime.now(UTC)
    kind = EventKind.PATIENT_UPDATE
    with uow:
        decision, _ = decide_on_patient(
            uow,
            vault,
            actor,
            DataRequest(Action.WRITE, purpose, PATIENT_CATEGORIES, resources=PATIENT_RESOURCE),
            kind,
            patient_id,
            now,
        )
        # Updates of one patient one after the other (PostgreSQL; SQLite has one writer):
        # each reads the version the one before it wrote, and an If-Match is judged on it.
        uow.connection.execute(
            sa.select(patients.c.id).where(patients.c.id == patient_id).with_for_update()
        )
        row = load_or_journal_failure(uow, actor, decision, kind, purpose, patient_id)
        if expected_version is not None and row.version != expected_version:
            record(uow, actor, decision, kind, Outcome.FAILED, purpose, [patient_id])
            uow.commit()
            raise VersionConflict(
                f"The patient is at version {row.version}, not {expected_version}; "
                "read it again before changing it."
            )
        box = vault.box(row.organisation_id, patient_id, row.key_version)
        version = row.version + 1
        uow.connection.execute(
            patients.update()
            .where(patients.c.id == patient_id)
            .values(
                version=version,
                updated_at=now,
                identity=box.seal_json("patients", "identity", patient_id, data.identity),
                contact=box.seal_json("patients", "contact", patient_id, data.contact),
            )
        )
        uow.connection.execute(
            patient_index.delete().where(patient_index.c.patient_id == patient_id)
        )
        uow.connection.execute(patient_index.insert(), patient_index_rows(vault, patient_id, data))
        record(
            uow,
            actor,
            decision,
            kind,
            Outcome.SUCCESS,
            purpose,
            [patient_id],
            [f"version:{version}"],
        )
        uow.commit()
    return version
