"""Filing a document in a patient's record, without holding the database while it arrives.

A document may arrive slowly (a large scan streamed over the API). On SQLite a write
transaction excludes every other writer, and every audited read appends to the journal, so
one transaction spanning the upload would stop the whole installation for as long as the
sender likes. So a document is filed in three steps:

1. The write is decided on the patient, in a short transaction (a refusal is journaled then,
   before a byte is read); nothing is kept when it is allowed.
2. The content is read, checked and sealed chunk by chunk under the patient's key, each
   chunk stored as it comes in its own short transaction, in `document_uploads`: sealed,
   bound to the document's id (the same associated data as in `document_chunks`), and part
   of no record: no service reads that table.
3. One transaction decides again (the facts may have changed meanwhile), moves the chunks
   into the record, stores the sealed description and journals the creation: the document
   exists from that commit on, with its journal entry, or not at all.

A failure at any step removes the chunks stored for it. Chunks left by a process that died
during an upload are removed by the next filing once they are a day old.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import BinaryIO

import sqlalchemy as sa

from coffre.access import Action, DataRequest, Purpose
from coffre.identity import Actor
from coffre.journal import EventKind, Outcome
from coffre.records.categories import Category
from coffre.records.clinical import DocumentInfo, _checked, _chunks, author_of
from coffre.records.errors import UploadInterrupted
from coffre.records.gate import decide_on_patient, record
from coffre.records.patients import load_or_journal_failure
from coffre.records.tables import document_chunks, document_uploads, documents
from coffre.records.vault import Vault
from coffre.store import UnitOfWork

# Chunks of an upload whose process died are removed once this old.
STALE_UPLOAD = timedelta(days=1)


def add_document(
    uow: UnitOfWork,
    vault: Vault,
    actor: Actor,
    patient_id: str,
    stream: BinaryIO,
    content_type: str,
    *,
    title: str,
    filename: str,
    purpose: Purpose,
    category: Category = Category.DOCUMENTS,
) -> DocumentInfo:
    """Seal a document chunk by chunk (never whole in memory) and return its description.

    Raises AccessDenied, PatientNotFound, PatientErased, ContentTypeMismatch,
    DocumentTooLarge or UploadInterrupted; nothing is then stored."""
    document_id = str(uuid.uuid4())
    request = DataRequest(
        Action.WRITE,
        purpose,
        frozenset({category}),
        resources=frozenset({"DocumentReference"}),
        operation="c",
    )
    kind = EventKind.DOCUMENT_CREATE
    with uow:  # 1: decided before anything is read
        decision, _ = decide_on_patient(
            uow, vault, actor, request, kind, patient_id, datetime.now(UTC), [document_id]
        )
        row = load_or_journal_failure(uow, actor, decision, kind, purpose, patient_id)
        _remove_stale(uow)
        uow.commit()
    organisation_id, key_version = row.organisation_id, row.key_version
    box = vault.box(organisation_id, patient_id, key_version)
    digest, counter = hashlib.sha256(), [0]
    plain = _checked(
        _chunks(stream, vault.settings.document_chunk_bytes),
        content_type,
        vault.settings.document_max_bytes,
        digest,
        counter,
    )
    count = 0
    try:
        # 2: each sealed chunk stored in its own short transaction
        for index, sealed in enumerate(box.seal_stream("document_chunks", document_id, plain)):
            with uow:
                uow.connection.execute(
                    document_uploads.insert().values(
                        document_id=document_id,
                        idx=index,
                        data=sealed,
                        created_at=datetime.now(UTC),
                    )
                )
                uow.commit()
            count += 1
        now = datetime.now(UTC)
        with uow:  # 3: decided again, filed and journaled at once
            decision, _ = decide_on_patient(
                uow, vault, actor, request, kind, patient_id, now, [document_id]
            )
            row = load_or_journal_failure(uow, actor, decision, kind, purpose, patient_id)
            if (row.organisation_id, row.key_version) != (organisation_id, key_version):
                raise UploadInterrupted(
                    "The patient's record changed hands or keys during the upload; "
                    "send the document again."
                )
            meta = {"title": title, "filename": filename, "sha256": digest.hexdigest()}
            uow.connection.execute(
                documents.insert().values(
                    id=document_id,
                    patient_id=patient_id,
                    organisation_id=organisation_id,
                    category=category.value,
                    content_type=content_type,
                    size=counter[0],
                    chunk_count=count,
                    created_at=now,
                    author_id=author_of(actor),
                    key_version=key_version,
                    meta=box.seal_json("documents", "meta", document_id, meta),
                )
            )
            staged = document_uploads.c
            kept = uow.connection.execute(
                sa.select(sa.func.count()).where(staged.document_id == document_id)
            ).scalar_one()
            if kept != count:
                raise UploadInterrupted("Part of the document was lost during the upload.")
            uow.connection.execute(
                document_chunks.insert().from_select(
                    ["document_id", "idx", "data"],
                    sa.select(staged.document_id, staged.idx, staged.data).where(
                        staged.document_id == document_id
                    ),
                )
            )
            uow.connection.execute(
                document_uploads.delete().where(staged.document_id == document_id)
            )
            record(
                uow, actor, decision, kind, Outcome.SUCCESS, purpose, [patient_id], [document_id]
            )
            uow.commit()
    except BaseException:
        _remove(uow, document_id)
        raise
    return DocumentInfo(
        document_id,
        patient_id,
        category.value,
        content_type,
        counter[0],
        now,
        title,
        filename,
        digest.hexdigest(),
    )


def _remove(uow: UnitOfWork, document_id: str) -> None:
    """Remove the chunks stored for an upload that failed (the failure itself stands)."""
    try:
        with uow:
            uow.connection.execute(
                document_uploads.delete().where(document_uploads.c.document_id == document_id)
            )
            uow.commit()
    except Exception:  # noqa: BLE001,S110 (removed later as stale; the first error is raised)
        pass


def _remove_stale(uow: UnitOfWork) -> None:
    cutoff = datetime.now(UTC) - STALE_UPLOAD
    uow.connection.execute(document_uploads.delete().where(document_uploads.c.created_at < cutoff))
