"""Filing a document in a patient's record, without holding the database while it arrives.

A document may arrive slowly (a large scan streamed over the API). On SQLite a write
transaction excludes every other writer, and every audited read appends to the journal, so
one transaction spanning the upload would stop the whole installation for as long as the
sender likes. So the first SMALL_CHUNKS chunks are read before anything else (no more than a
FHIR body holds): a document that ends there is decided, sealed, filed and journaled in one
transaction. A larger one is filed in three steps:

1. The write is decided on the patient, in a short transaction (a refusal is journaled then,
   before the rest is read); nothing is kept when it is allowed.
2. The content is checked and sealed chunk by chunk under the patient's key, each chunk
   stored as it comes in its own short transaction, in `document_uploads`: sealed,
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
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import chain, islice
from typing import Any, BinaryIO

import sqlalchemy as sa

from coffre.access import Action, DataRequest, Decision, Purpose
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

log = logging.getLogger("coffre.records")

# A document of at most this many chunks (1 MiB by default) is read before it is decided
# and filed in one transaction: held whole in memory, but no more than a FHIR body is.
SMALL_CHUNKS = 4

# Chunks of an upload whose process died are removed once this old.
STALE_UPLOAD = timedelta(days=1)


@dataclass(frozen=True)
class _Filing:
    """What a document is filed with, besides its content."""

    document_id: str
    actor: Actor
    patient_id: str
    content_type: str
    title: str
    filename: str
    purpose: Purpose
    category: Category

    @property
    def request(self) -> DataRequest:
        return DataRequest(
            Action.WRITE,
            self.purpose,
            frozenset({self.category}),
            resources=frozenset({"DocumentReference"}),
            operation="c",
        )


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
    """Seal a document chunk by chunk and return its description: a document of at most
    SMALL_CHUNKS chunks is read whole first and filed in one transaction; a larger one is
    never held whole in memory, and arrives in steps (see the module's text). Raises AccessDenied,
    PatientNotFound, PatientErased, ContentTypeMismatch, DocumentTooLarge or
    UploadInterrupted; nothing is then stored."""
    filing = _Filing(
        str(uuid.uuid4()), actor, patient_id, content_type, title, filename, purpose, category
    )
    settings = vault.settings
    pieces = _chunks(stream, settings.document_chunk_bytes)
    head = list(islice(pieces, SMALL_CHUNKS + 1))  # one more: do others follow?
    digest, counter = hashlib.sha256(), [0]
    limit = settings.document_max_bytes
    plain = _checked(chain(head, pieces), content_type, limit, digest, counter)
    if len(head) <= SMALL_CHUNKS:
        with uow:
            row, decision, now = _decided(uow, vault, filing)
            box = vault.box(row.organisation_id, patient_id, row.key_version)
            sealed = list(box.seal_stream("document_chunks", filing.document_id, plain))
            _file(uow, box, row, decision, filing, now, len(sealed), digest, counter[0])
            _remove_stale(uow)
            uow.connection.execute(
                document_chunks.insert(),
                [
                    {"document_id": filing.document_id, "idx": index, "data": data}
                    for index, data in enumerate(sealed)
                ],
            )
            uow.commit()
    else:
        now = _staged(uow, vault, filing, plain, digest, counter)
    return DocumentInfo(
        filing.document_id,
        patient_id,
        category.value,
        content_type,
        counter[0],
        now,
        title,
        filename,
        digest.hexdigest(),
    )


def _staged(
    uow: UnitOfWork,
    vault: Vault,
    filing: _Filing,
    plain: Iterator[bytes],
    digest: Any,
    counter: list[int],
) -> datetime:
    """File a large document in steps; return when it was filed."""
    document_id = filing.document_id
    with uow:  # 1: decided before the rest is read
        row, _, _ = _decided(uow, vault, filing)
        _remove_stale(uow)
        uow.commit()
    held = (row.organisation_id, row.key_version)
    box = vault.box(row.organisation_id, filing.patient_id, row.key_version)
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
        with uow:  # 3: decided again, filed and journaled at once
            row, decision, now = _decided(uow, vault, filing)
            if (row.organisation_id, row.key_version) != held:
                raise UploadInterrupted(
                    "The patient's record changed hands or keys during the upload; "
                    "send the document again."
                )
            staged = document_uploads.c
            kept = uow.connection.execute(
                sa.select(sa.func.count()).where(staged.document_id == document_id)
            ).scalar_one()
            if kept != count:
                raise UploadInterrupted("Part of the document was lost during the upload.")
            _file(uow, box, row, decision, filing, now, count, digest, counter[0])
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
            uow.commit()
    except BaseException:
        _remove(uow, document_id)
        raise
    return now


def _decided(uow: UnitOfWork, vault: Vault, filing: _Filing) -> tuple[Any, Decision, datetime]:
    """The patient's row, the allowing decision and its time (a refusal is journaled and
    raised)."""
    now = datetime.now(UTC)
    kind = EventKind.DOCUMENT_CREATE
    decision, _ = decide_on_patient(
        uow,
        vault,
        filing.actor,
        filing.request,
        kind,
        filing.patient_id,
        now,
        [filing.document_id],
    )
    row = load_or_journal_failure(
        uow, filing.actor, decision, kind, filing.purpose, filing.patient_id
    )
    return row, decision, now


def _file(
    uow: UnitOfWork,
    box: Any,
    row: Any,
    decision: Decision,
    filing: _Filing,
    now: datetime,
    count: int,
    digest: Any,
    size: int,
) -> None:
    """Store the document's row (its chunks follow, in the same transaction) and journal
    its creation."""
    meta = {"title": filing.title, "filename": filing.filename, "sha256": digest.hexdigest()}
    uow.connection.execute(
        documents.insert().values(
            id=filing.document_id,
            patient_id=filing.patient_id,
            organisation_id=row.organisation_id,
            category=filing.category.value,
            content_type=filing.content_type,
            size=size,
            chunk_count=count,
            created_at=now,
            author_id=author_of(filing.actor),
            key_version=row.key_version,
            meta=box.seal_json("documents", "meta", filing.document_id, meta),
        )
    )
    record(
        uow,
        filing.actor,
        decision,
        EventKind.DOCUMENT_CREATE,
        Outcome.SUCCESS,
        filing.purpose,
        [filing.patient_id],
        [filing.document_id],
    )


def _remove(uow: UnitOfWork, document_id: str) -> None:
    """Remove the chunks stored for an upload that failed (the failure itself stands)."""
    try:
        with uow:
            uow.connection.execute(
                document_uploads.delete().where(document_uploads.c.document_id == document_id)
            )
            uow.commit()
    except Exception as exc:  # noqa: BLE001 (the upload's own failure is what is raised)
        log.warning(
            "the chunks of failed upload %s stay until removed as stale (%s)",
            document_id,
            type(exc).__name__,
        )


def _remove_stale(uow: UnitOfWork) -> None:
    cutoff = datetime.now(UTC) - STALE_UPLOAD
    uow.connection.execute(document_uploads.delete().where(document_uploads.c.created_at < cutoff))
