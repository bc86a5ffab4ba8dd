"""Everything held on a patient, as one FHIR R4 Bundle written as a stream.

Documents are written as Binary resources whose base64 data is produced chunk by chunk, so a
large document is never held whole in memory. The export is decided and journaled (with the
ids of every resource it contains) and committed before anything is decrypted.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO

import sqlalchemy as sa

from coffre.access import Action, Purpose
from coffre.identity import Actor
from coffre.journal import EventKind, Outcome
from coffre.records.clinical import sealed_chunks
from coffre.records.fhir import fhir_model
from coffre.records.gate import decide_or_refuse, record
from coffre.records.patients import load_or_journal_failure, open_patient
from coffre.records.tables import clinical_entries, documents
from coffre.records.vault import PatientBox, Vault
from coffre.store import UnitOfWork


@dataclass(frozen=True)
class ExportSummary:
    patient_id: str
    resources: int
    documents: int
    bytes_written: int


def _dump(resource: dict[str, Any]) -> bytes:
    return json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode()


def _base64_stream(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Base64 of the concatenated chunks, emitted in pieces (3-byte groups carried over)."""
    carry = b""
    for chunk in chunks:
        data = carry + chunk
        cut = len(data) - len(data) % 3
        carry = data[cut:]
        if cut:
            yield base64.b64encode(data[:cut])
    if carry:
        yield base64.b64encode(carry)


class _Writer:
    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.written = 0
        self.count = 0

    def raw(self, data: bytes) -> None:
        self.out.write(data)
        self.written += len(data)

    def entry(self, resource: dict[str, Any]) -> None:
        self.raw(b"," if self.count else b"")
        self.raw(_dump({"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource}))
        self.count += 1


def export_patient(
    uow: UnitOfWork, vault: Vault, actor: Actor, patient_id: str, purpose: Purpose, out: BinaryIO
) -> ExportSummary:
    """Write the patient's Bundle to `out`. Raises AccessDenied, PatientNotFound, PatientErased."""
    with uow:
        decision = decide_or_refuse(
            uow, actor, Action.EXPORT, purpose, EventKind.PATIENT_EXPORT, [patient_id]
        )
        row = load_or_journal_failure(
            uow, actor, decision, EventKind.PATIENT_EXPORT, purpose, patient_id
        )
        entry_rows = uow.connection.execute(
            sa.select(clinical_entries)
            .where(clinical_entries.c.patient_id == patient_id)
            .order_by(clinical_entries.c.recorded_at, clinical_entries.c.id)
        ).all()
        document_rows = uow.connection.execute(
            sa.select(documents)
            .where(documents.c.patient_id == patient_id)
            .order_by(documents.c.created_at, documents.c.id)
        ).all()
        resource_ids = [r.id for r in entry_rows] + [d.id for d in document_rows]
        record(
            uow,
            actor,
            decision,
            EventKind.PATIENT_EXPORT,
            Outcome.SUCCESS,
            purpose,
            [patient_id],
            resource_ids,
        )
        uow.commit()

    box = vault.box(row.organisation_id, patient_id, row.key_version)
    writer = _Writer(out)
    header = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    fhir_model("Bundle").model_validate(header)
    writer.raw(_dump(header)[:-1] + b',"entry":[')
    writer.entry(open_patient(vault, row))
    subject = {"reference": f"urn:uuid:{patient_id}"}
    for entry in entry_rows:
        content = box.open_json("clinical_entries", "content", entry.id, entry.content)
        resource = {**content, "id": entry.id, "subject": subject}
        fhir_model(entry.resource_type).model_validate(resource)
        writer.entry(resource)
    for document in document_rows:
        _write_document(uow, box, writer, document, subject)
    writer.raw(b"]}\n")
    return ExportSummary(patient_id, writer.count, len(document_rows), writer.written)


def _write_document(
    uow: UnitOfWork, box: PatientBox, writer: _Writer, document: Any, subject: dict[str, str]
) -> None:
    meta = box.open_json("documents", "meta", document.id, document.meta)
    binary_id = _binary_id(document.id)
    reference = {
        "resourceType": "DocumentReference",
        "id": document.id,
        "status": "current",
        "subject": subject,
        "date": _instant(document.created_at),
        "description": meta["title"],
        "category": [{"text": document.category}],
        "content": [
            {
                "attachment": {
                    "contentType": document.content_type,
                    "url": f"urn:uuid:{binary_id}",
                    "size": document.size,
                    "title": meta["filename"],
                }
            }
        ],
    }
    fhir_model("DocumentReference").model_validate(reference)
    writer.entry(reference)
    fhir_model("Binary").model_validate(
        {
            "resourceType": "Binary",
            "id": binary_id,
            "contentType": document.content_type,
            "data": "AA==",
        }
    )
    head = _dump({"resourceType": "Binary", "id": binary_id, "contentType": document.content_type})
    writer.raw(b",")
    writer.raw(
        b'{"fullUrl":"urn:uuid:' + binary_id.encode() + b'","resource":' + head[:-1] + b',"data":"'
    )
    with uow.reading() as reader:
        for piece in _base64_stream(
            box.open_stream("document_chunks", document.id, sealed_chunks(reader, document.id))
        ):
            writer.raw(piece)
    writer.raw(b'"}}')
    writer.count += 1


def _binary_id(document_id: str) -> str:
    # A stable id for the document's content, distinct from the DocumentReference's own.
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"coffre:binary:{document_id}"))


def _instant(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")
