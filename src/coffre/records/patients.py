"""Patients in the vault: import, find, read, erase, and the erasure reconciliation."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from coffre import journal
from coffre.access import Action, Decision, Purpose
from coffre.crypto import IndexKind
from coffre.identity import Actor, ActorKind
from coffre.journal import Entry, EventKind, Outcome
from coffre.records.categories import ErasureReason
from coffre.records.errors import (
    ImportSourceChanged,
    InvalidImport,
    InvalidQuery,
    InvalidResource,
    LineError,
    PatientErased,
    PatientNotFound,
)
from coffre.records.fhir import PatientData, join_patient, parse_patient
from coffre.records.gate import decide_or_refuse, record
from coffre.records.tables import erasures, patient_index, patients
from coffre.records.vault import PatientBox, Vault
from coffre.store import UnitOfWork

Progress = Callable[[int], None]


@dataclass
class ImportReport:
    batch_id: str
    imported: list[tuple[int, str]] = field(default_factory=list)  # (line, patient id)
    duplicates: list[tuple[int, str]] = field(default_factory=list)  # (line, why)
    invalid: list[LineError] = field(default_factory=list)


@dataclass(frozen=True)
class FindCriteria:
    nir: str | None = None
    insz: str | None = None
    email: str | None = None
    phone: str | None = None
    family: str | None = None
    birth_date: str | None = None


def _lines(
    open_lines: Callable[[], Iterable[str | bytes]], digest: Any
) -> Iterable[tuple[int, str | bytes]]:
    """(line number, text) of the non-blank lines; every line's bytes go into `digest`."""
    for number, text in enumerate(open_lines(), start=1):
        digest.update(text.encode() if isinstance(text, str) else text)
        digest.update(b"\n")
        if text.strip():
            yield number, text


def _validate_all(
    open_lines: Callable[[], Iterable[str | bytes]],
    regions: tuple[str, ...],
    progress: Progress | None,
    digest: Any,
) -> list[LineError]:
    errors: list[LineError] = []
    for number, text in _lines(open_lines, digest):
        try:
            parse_patient(text, regions)
        except InvalidResource as exc:
            errors.append(LineError(number, exc.message))
        if progress is not None:
            progress(1)
    return errors


def _index_rows(vault: Vault, patient_id: str, data: PatientData) -> list[dict[str, Any]]:
    blind, regions = vault.blind, vault.settings.phone_regions
    digests: set[tuple[str, bytes]] = set()
    digests.update((IndexKind.NATIONAL_ID, blind.national_id(s, v)) for s, v in data.national_ids)
    digests.update((IndexKind.EMAIL, blind.email(e)) for e in data.emails)
    for phone in data.phones:
        digests.update((IndexKind.PHONE, d) for d in blind.phones(phone, regions))
    digests.update(
        (IndexKind.FAMILY_BIRTH, blind.family_birth(f, b)) for f, b in data.family_births
    )
    return [{"kind": k.value, "digest": d, "patient_id": patient_id} for k, d in digests]


def _patient_row(box: PatientBox, data: PatientData, now: datetime) -> dict[str, Any]:
    pid = box.patient_id
    return {
        "id": pid,
        "organisation_id": box.organisation_id,
        "key_version": box.key_version,
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "identity": box.seal_json("patients", "identity", pid, data.identity),
        "contact": box.seal_json("patients", "contact", pid, data.contact),
    }


def import_patients(
    uow: UnitOfWork,
    vault: Vault,
    actor: Actor,
    open_lines: Callable[[], Iterable[str | bytes]],
    organisation_id: str,
    *,
    skip_invalid: bool = False,
    progress: Progress | None = None,
    batch_size: int = 1000,
    purpose: Purpose = Purpose.IMPORT,
) -> ImportReport:
    """Import FHIR Patient NDJSON lines into one organisation, all in one transaction.

    `open_lines` is called twice: once to validate every line, once to import. Raises
    InvalidImport (nothing imported) when a line is invalid and `skip_invalid` is false.
    """
    report = ImportReport(batch_id=f"import:{uuid.uuid4()}")
    regions = vault.settings.phone_regions
    created_keys: list[str] = []
    with uow:
        decision = decide_or_refuse(
            uow, actor, Action.IMPORT, purpose, EventKind.PATIENT_IMPORT, (), [report.batch_id]
        )

        def finish(outcome: Outcome) -> None:
            kind = EventKind.PATIENT_IMPORT
            record(uow, actor, decision, kind, outcome, purpose, (), [report.batch_id])
            uow.commit()

        checked = hashlib.sha256()
        report.invalid = _validate_all(open_lines, regions, progress, checked)
        if report.invalid and not skip_invalid:
            finish(Outcome.FAILED)
            raise InvalidImport(report.invalid)
        bad_lines = {e.line for e in report.invalid}
        seen: dict[bytes, int] = {}
        batch: list[tuple[int, PatientData]] = []

        def flush() -> None:
            _import_batch(
                uow,
                vault,
                actor,
                decision,
                purpose,
                organisation_id,
                batch,
                seen,
                report,
                created_keys,
            )
            batch.clear()

        # The second pass only splits the lines the first pass validated, and proves they
        # are the same bytes by hashing them again before the commit.
        reread = hashlib.sha256()
        try:
            for number, text in _lines(open_lines, reread):
                if number not in bad_lines:
                    batch.append((number, parse_patient(text, regions, validate=False)))
                    if len(batch) >= batch_size:
                        flush()
                if progress is not None:
                    progress(1)
            if batch:
                flush()
            if reread.digest() != checked.digest():
                raise ImportSourceChanged(
                    "The file changed while it was being imported, so nothing was imported."
                )
            finish(Outcome.SUCCESS)
        except BaseException:
            # The main transaction rolls back; keys made for it must not outlive it.
            if created_keys:
                vault.keyring.destroy(created_keys)
            raise
    return report


def _import_batch(
    uow: UnitOfWork,
    vault: Vault,
    actor: Actor,
    decision: Decision,
    purpose: Purpose,
    organisation_id: str,
    batch: list[tuple[int, PatientData]],
    seen: dict[bytes, int],
    report: ImportReport,
    created_keys: list[str],
) -> None:
    """Import one batch; every data key made is listed in `created_keys` at once, so the
    caller can destroy them if the transaction does not commit."""
    blind = vault.blind
    digests = {
        number: [blind.national_id(s, v) for s, v in data.national_ids] for number, data in batch
    }
    wanted = [d for ds in digests.values() for d in ds]
    existing: dict[bytes, str] = {}
    for start in range(0, len(wanted), 500):
        rows = uow.connection.execute(
            sa.select(patient_index.c.digest, patient_index.c.patient_id).where(
                patient_index.c.kind == IndexKind.NATIONAL_ID.value,
                patient_index.c.digest.in_(wanted[start : start + 500]),
            )
        )
        existing.update((r.digest, r.patient_id) for r in rows)
    fresh: list[tuple[int, PatientData]] = []
    for number, data in batch:
        twin = next((existing[d] for d in digests[number] if d in existing), None)
        if twin is not None:
            report.duplicates.append((number, f"same national identifier as patient {twin}"))
            continue
        earlier = next((seen[d] for d in digests[number] if d in seen), None)
        if earlier is not None:
            report.duplicates.append((number, f"same national identifier as line {earlier}"))
            continue
        seen.update((d, number) for d in digests[number])
        fresh.append((number, data))
    if not fresh:
        return
    ids = [str(uuid.uuid4()) for _ in fresh]
    created_keys.extend(ids)
    boxes = vault.new_boxes(organisation_id, ids)
    now = datetime.now(UTC)
    patient_rows, index_rows, entries = [], [], []
    for box, (number, data) in zip(boxes, fresh, strict=True):
        patient_rows.append(_patient_row(box, data, now))
        index_rows.extend(_index_rows(vault, box.patient_id, data))
        entries.append(
            Entry(
                EventKind.PATIENT_CREATE,
                actor,
                decision,
                Outcome.SUCCESS,
                purpose,
                (box.patient_id,),
                (report.batch_id,),
            )
        )
        report.imported.append((number, box.patient_id))
    uow.connection.execute(patients.insert(), patient_rows)
    if index_rows:
        uow.connection.execute(patient_index.insert(), index_rows)
    journal.append(uow, entries)


def _digests_for(vault: Vault, criteria: FindCriteria) -> tuple[IndexKind, list[bytes]]:
    from coffre.records.fhir import INSZ_SYSTEM, NIR_SYSTEM

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
        return IndexKind.FAMILY_BIRTH, [
            blind.family_birth(criteria.family or "", criteria.birth_date or "")
        ]
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
    kind, digests = _digests_for(vault, criteria)
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
_PATIENT_BY_ID = sa.select(patients).where(patients.c.id == sa.bindparam("id"))


def load_patient_row(uow: UnitOfWork, patient_id: str) -> sa.Row[Any]:
    """The patient's sealed row; raise PatientErased or PatientNotFound."""
    row = uow.connection.execute(_PATIENT_BY_ID, {"id": patient_id}).first()
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


def open_patient(vault: Vault, row: sa.Row[Any]) -> dict[str, Any]:
    """The Patient resource from its sealed row (raises KeyDestroyed if erased meanwhile)."""
    box = vault.box(row.organisation_id, row.id, row.key_version)
    identity = box.open_json("patients", "identity", row.id, row.identity)
    contact = box.open_json("patients", "contact", row.id, row.contact)
    return join_patient(row.id, identity, contact)


def read_patient(
    uow: UnitOfWork, vault: Vault, actor: Actor, patient_id: str, purpose: Purpose
) -> dict[str, Any]:
    """The patient as a FHIR Patient resource, after an allowing decision journaled and
    committed. Raises AccessDenied, PatientNotFound or PatientErased."""
    with uow:
        decision = decide_or_refuse(
            uow, actor, Action.READ, purpose, EventKind.PATIENT_READ, [patient_id]
        )
        try:
            row = load_patient_row(uow, patient_id)
        except (PatientNotFound, PatientErased):
            record(
                uow, actor, decision, EventKind.PATIENT_READ, Outcome.FAILED, purpose, [patient_id]
            )
            uow.commit()
            raise
        record(uow, actor, decision, EventKind.PATIENT_READ, Outcome.SUCCESS, purpose, [patient_id])
        uow.commit()
    return open_patient(vault, row)


def erase_patient(
    uow: UnitOfWork, vault: Vault, actor: Actor, patient_id: str, reason: ErasureReason
) -> int:
    """Delete the patient's rows, keep a tombstone, then destroy the data key.

    Returns the journal sequence number of the erasure. If the process dies between the
    commit and the key destruction, `reconcile_erasures` finishes the job at next start.
    """
    with uow:
        decision = decide_or_refuse(
            uow, actor, Action.ERASE, Purpose.ERASURE, EventKind.PATIENT_ERASE, [patient_id]
        )
        row = load_patient_row(uow, patient_id)
        uow.connection.execute(patients.delete().where(patients.c.id == patient_id))
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
    with uow:
        erased = list(uow.connection.execute(sa.select(erasures.c.patient_id)).scalars())
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
