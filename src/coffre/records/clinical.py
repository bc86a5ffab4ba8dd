"""Clinical entries (observations, conditions, notes) and documents of a patient."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO

import sqlalchemy as sa
from pydantic import ValidationError

from coffre.access import Action, DataRequest, Purpose
from coffre.identity import Actor, ActorKind
from coffre.journal import EventKind, Outcome
from coffre.records.categories import Category
from coffre.records.errors import ContentTypeMismatch, DocumentTooLarge, InvalidResource
from coffre.records.fhir import check_required_codes, fhir_model
from coffre.records.gate import decide_on_patient, record
from coffre.records.patients import load_or_journal_failure
from coffre.records.tables import clinical_entries, document_chunks
from coffre.records.vault import Vault
from coffre.store import UnitOfWork

ENTRY_TYPES = ("Observation", "Condition")

# Declared content type -> magic bytes its content must start with.
DOCUMENT_TYPES: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/tiff": (b"II*\x00", b"MM\x00*"),
}


def author_of(actor: Actor) -> str | None:
    """The account that writes an entry or a document (None for the operator's imports)."""
    return actor.id if actor.kind is ActorKind.ACCOUNT else None


@dataclass(frozen=True)
class DocumentInfo:
    id: str
    patient_id: str
    category: str
    content_type: str
    size: int
    created_at: datetime
    title: str
    filename: str
    sha256: str


def add_clinical_entry(
    uow: UnitOfWork,
    vault: Vault,
    actor: Actor,
    patient_id: str,
    resource: dict[str, Any],
    category: Category,
    purpose: Purpose,
) -> str:
    """Seal an Observation or Condition for the patient and return its id."""
    kind = str(resource.get("resourceType"))
    model = fhir_model(kind) if kind in ENTRY_TYPES else None
    if model is None:
        raise InvalidResource("A clinical entry must be an Observation or a Condition.")
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        raise InvalidResource(f"The {resource['resourceType']} is not valid FHIR R4.") from exc
    try:
        check_required_codes(resource)
    except InvalidResource as exc:
        raise InvalidResource(
            f"The {resource['resourceType']} is not valid FHIR R4: {exc.message}.", exc.path
        ) from None
    entry_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    with uow:
        decision, _ = decide_on_patient(
            uow,
            vault,
            actor,
            DataRequest(
                Action.WRITE,
                purpose,
                frozenset({category}),
                resources=frozenset({resource["resourceType"]}),
                operation="c",
            ),
            EventKind.ENTRY_CREATE,
            patient_id,
            now,
            [entry_id],
        )
        row = load_or_journal_failure(
            uow, actor, decision, EventKind.ENTRY_CREATE, purpose, patient_id
        )
        box = vault.box(row.organisation_id, patient_id, row.key_version)
        content = {k: v for k, v in resource.items() if k != "id"}
        uow.connection.execute(
            clinical_entries.insert().values(
                id=entry_id,
                patient_id=patient_id,
                organisation_id=row.organisation_id,
                category=category.value,
                resource_type=resource["resourceType"],
                recorded_at=now,
                author_id=author_of(actor),
                key_version=row.key_version,
                content=box.seal_json("clinical_entries", "content", entry_id, content),
            )
        )
        record(
            uow,
            actor,
            decision,
            EventKind.ENTRY_CREATE,
            Outcome.SUCCESS,
            purpose,
            [patient_id],
            [entry_id],
        )
        uow.commit()
    return entry_id


def _chunks(stream: BinaryIO, size: int) -> Iterator[bytes]:
    while True:
        chunk = stream.read(size)
        if not chunk:
            return
        yield chunk


def _checked(
    chunks: Iterator[bytes], content_type: str, limit: int, digest: Any, counter: list[int]
) -> Iterator[bytes]:
    """Pass chunks through, checking magic bytes on the first and the running size."""
    magic = DOCUMENT_TYPES.get(content_type)
    if magic is None:
        allowed = ", ".join(sorted(DOCUMENT_TYPES))
        raise ContentTypeMismatch(
            f"The content type {content_type!r} is not accepted; use {allowed}."
        )
    first = True
    for chunk in chunks:
        if first and not chunk.startswith(magic):
            raise ContentTypeMismatch(f"The document's content is not {content_type}.")
        first = False
        counter[0] += len(chunk)
        if counter[0] > limit:
            raise DocumentTooLarge(f"The document is over the limit of {limit} bytes.")
        digest.update(chunk)
        yield chunk
    if first:
        raise ContentTypeMismatch("The document is empty.")


def _chunk_batch(uow: UnitOfWork, document_id: str, index: int, batch: int) -> list[bytes]:
    return list(
        uow.connection.execute(
            sa.select(document_chunks.c.data)
            .where(document_chunks.c.document_id == document_id, document_chunks.c.idx >= index)
            .order_by(document_chunks.c.idx)
            .limit(batch)
        ).scalars()
    )


def sealed_chunks(uow: UnitOfWork, document_id: str, batch: int = 16) -> Iterator[bytes]:
    """The sealed chunks of a document in order, a few rows at a time (bounded memory), in
    the open unit of work."""
    index = 0
    while True:
        rows = _chunk_batch(uow, document_id, index, batch)
        yield from rows
        if len(rows) < batch:
            return
        index += batch


def sealed_chunks_apart(uow: UnitOfWork, document_id: str, batch: int = 16) -> Iterator[bytes]:
    """The same, each batch read in its own short read-only unit of work (for a stream
    consumed slowly, or from other threads)."""
    index = 0
    while True:
        with uow.reading() as reader:
            rows = _chunk_batch(reader, document_id, index, batch)
        yield from rows
        if len(rows) < batch:
            return
        index += batch
