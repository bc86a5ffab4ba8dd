"""A professional's reading of a patient's record: the entries and documents of the
categories they may see, and one document's content.

What is returned is decided first (categories the actor's profession or contract reaches,
masked documents left out for all but their author), journaled with the id of every entry
and document returned, committed, and only then decrypted.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO

import sqlalchemy as sa

from coffre import access
from coffre.access import Action, Category, DataRequest, Purpose
from coffre.identity import Actor
from coffre.journal import EventKind, Outcome
from coffre.records.clinical import DocumentInfo, sealed_chunks_apart
from coffre.records.errors import DocumentNotFound
from coffre.records.gate import (
    decide_on_patient,
    journal_missing,
    organisation_for,
    record,
    refuse_unknown_item,
)
from coffre.records.patients import (
    decide_item_read,
    load_or_journal_failure,
    open_patient,
)
from coffre.records.tables import clinical_entries, documents
from coffre.records.vault import PatientBox, Vault
from coffre.store import UnitOfWork

# The FHIR resource types a patient's record is made of.
RECORD_RESOURCES = frozenset({"Patient", "Observation", "Condition", "DocumentReference"})
DOCUMENT_RESOURCE = frozenset({"DocumentReference"})


@dataclass(frozen=True)
class EntryView:
    id: str
    category: str
    resource_type: str
    recorded_at: datetime
    author_id: str | None
    resource: dict[str, Any]
    patient_id: str = ""


@dataclass(frozen=True)
class PatientRecord:
    """What the actor may see of a patient's record: the Patient resource (identity, and
    contact details when allowed) if identity was asked and may be read, entries and
    documents; `withheld` names the categories asked for that their profession or contract
    does not reach."""

    patient_id: str
    patient: dict[str, Any] | None
    entries: list[EntryView]
    documents: list[DocumentInfo]
    withheld: tuple[str, ...]


def read_record(
    uow: UnitOfWork,
    vault: Vault,
    actor: Actor,
    patient_id: str,
    purpose: Purpose,
    categories: Iterable[Category] | None = None,
    resources: Iterable[str] | None = None,
) -> PatientRecord:
    """The patient's identity, entries and documents in the categories asked (all by
    default) that the actor may read, of the FHIR resource types asked (all of
    RECORD_RESOURCES by default) that the actor's token, if any, allows; decided and
    journaled as one read. Raises AccessDenied when none may be, PatientNotFound or
    PatientErased."""
    asked = frozenset(categories) if categories is not None else frozenset(Category)
    kinds = frozenset(resources) if resources is not None else RECORD_RESOURCES
    if not kinds <= RECORD_RESOURCES:
        raise ValueError(f"a record holds only {', '.join(sorted(RECORD_RESOURCES))}")
    now = datetime.now(UTC)
    with uow:
        organisation = organisation_for(uow, actor, patient_id)
        reachable = access.readable(actor, asked, patient_organisation_id=organisation)
        allowed = access.token_reach(actor, kinds, "r")
        decision, facts = decide_on_patient(
            uow,
            vault,
            actor,
            DataRequest(Action.READ, purpose, reachable or asked, resources=allowed or kinds),
            EventKind.RECORD_READ,
            patient_id,
            now,
        )
        row = load_or_journal_failure(
            uow, actor, decision, EventKind.RECORD_READ, purpose, patient_id
        )
        wanted = sorted(reachable)
        entry_rows = uow.connection.execute(
            sa.select(clinical_entries)
            .where(
                clinical_entries.c.patient_id == patient_id,
                clinical_entries.c.category.in_(wanted),
                clinical_entries.c.resource_type.in_(sorted(allowed)),
            )
            .order_by(clinical_entries.c.recorded_at, clinical_entries.c.id)
        ).all()
        masked = facts.masked_documents
        document_rows = (
            [
                d
                for d in uow.connection.execute(
                    sa.select(documents)
                    .where(documents.c.patient_id == patient_id, documents.c.category.in_(wanted))
                    .order_by(documents.c.created_at, documents.c.id)
                )
                if d.id not in masked or masked[d.id] == actor.id
            ]
            if "DocumentReference" in allowed
            else []
        )
        record(
            uow,
            actor,
            decision,
            EventKind.RECORD_READ,
            Outcome.SUCCESS,
            purpose,
            [patient_id],
            [r.id for r in entry_rows] + [d.id for d in document_rows],
        )
        uow.commit()
    box = vault.box(row.organisation_id, patient_id, row.key_version)
    entries = [
        EntryView(
            r.id,
            r.category,
            r.resource_type,
            r.recorded_at,
            r.author_id,
            {
                "resourceType": r.resource_type,
                "id": r.id,
                **box.open_json("clinical_entries", "content", r.id, r.content),
            },
            patient_id,
        )
        for r in entry_rows
    ]
    infos = [document_info(box, d) for d in document_rows]
    patient = (
        open_patient(vault, row, with_contact=Category.CONTACT in reachable)
        if Category.IDENTITY in reachable and "Patient" in allowed
        else None
    )
    return PatientRecord(patient_id, patient, entries, infos, tuple(sorted(asked - reachable)))


def document_info(box: PatientBox, d: sa.Row[Any]) -> DocumentInfo:
    """A document's description from its row (its sealed part opened)."""
    meta = box.open_json("documents", "meta", d.id, d.meta)
    return DocumentInfo(
        d.id,
        d.patient_id,
        d.category,
        d.content_type,
        d.size,
        d.created_at,
        meta["title"],
        meta["filename"],
        meta["sha256"],
    )


def open_document(
    uow: UnitOfWork, vault: Vault, actor: Actor, document_id: str, purpose: Purpose
) -> tuple[DocumentInfo, Iterator[bytes]]:
    """One document's description and its content as a lazy stream of plain chunks, after
    a decision on its category (and its mask) journaled and committed. The stream reads a
    few chunks at a time, each batch in its own short read, so it may be consumed slowly
    and from another thread. Raises DocumentNotFound, AccessDenied, PatientErased."""
    kind = EventKind.DOCUMENT_READ
    with uow:
        doc = uow.connection.execute(
            sa.select(documents).where(documents.c.id == document_id)
        ).first()
        if doc is None:
            unknown = DataRequest(
                Action.READ,
                purpose,
                frozenset({Category.DOCUMENTS}),
                document_id,
                resources=DOCUMENT_RESOURCE,
            )
            refuse_unknown_item(uow, actor, unknown, kind, document_id)
            journal_missing(
                uow,
                actor,
                kind,
                purpose,
                document_id,
                "document-not-found",
                "there is no document with that id",
            )
            raise DocumentNotFound(f"There is no document with id {document_id}.")
        request = DataRequest(
            Action.READ,
            purpose,
            frozenset({Category(doc.category)}),
            document_id,
            resources=DOCUMENT_RESOURCE,
        )
        row = decide_item_read(uow, vault, actor, request, kind, doc.patient_id, document_id)
    box = vault.box(row.organisation_id, doc.patient_id, row.key_version)
    info = document_info(box, doc)
    sealed = sealed_chunks_apart(uow, document_id)
    return info, box.open_stream("document_chunks", document_id, sealed)


def read_document(
    uow: UnitOfWork,
    vault: Vault,
    actor: Actor,
    document_id: str,
    purpose: Purpose,
    out: BinaryIO,
) -> DocumentInfo:
    """Write one document's content to `out` and return its description (`open_document`)."""
    info, content = open_document(uow, vault, actor, document_id, purpose)
    for plain in content:
        out.write(plain)
    return info
