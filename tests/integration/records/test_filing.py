"""Filing a document that arrives slowly: no transaction spans the upload, so the rest of
the installation keeps writing (journal entries of reads included); a failure, or a change
of the facts while it arrives, leaves nothing behind."""

from __future__ import annotations

import io
import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from careworld import PDF, World, build_world
from coffre import records
from coffre.access import AccessDenied, Purpose
from coffre.bootstrap import Coffre
from coffre.records.filing import SMALL_CHUNKS
from coffre.records.tables import document_uploads
from factories import journal_records

CARE, REQUEST = Purpose.CARE, Purpose.PATIENT_REQUEST


@pytest.fixture
def world(coffre: Coffre) -> World:
    return build_world(coffre)


class Paused(io.RawIOBase):
    """A PDF of more chunks than are read before the write is decided, that stops before
    its last piece until `go` is set (or raises `fail` there instead): by then, all but
    one of the chunks read are sealed and stored (a chunk is sealed once the next one shows
    whether it is the last)."""

    def __init__(self, piece: int, fail: BaseException | None = None) -> None:
        full = [PDF + b"\x00" * (piece - len(PDF))] + [bytes([n]) * piece for n in range(1, 6)]
        self.pieces = [*full[: SMALL_CHUNKS + 1], b"\x07" * 10]
        self.size = piece * (SMALL_CHUNKS + 1) + 10
        self.started, self.go, self.fail = threading.Event(), threading.Event(), fail

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if len(self.pieces) == 1:
            self.started.set()
            if not self.go.wait(30):
                raise TimeoutError("the test never let the upload go on")
            if self.fail is not None:
                raise self.fail
        return self.pieces.pop(0) if self.pieces else b""


def _upload(coffre: Coffre, world: World, source: Paused, outcome: list[object]) -> None:
    try:
        outcome.append(
            records.add_document(
                coffre.uow(),
                coffre.vault,
                world.physician,
                world.patient_id,
                source,
                "application/pdf",
                title="Scanner",
                filename="scan.pdf",
                purpose=CARE,
            )
        )
    except BaseException as exc:
        outcome.append(exc)


def _count(coffre: Coffre, table: str) -> int:
    with coffre.engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def _paused_upload(
    coffre: Coffre, world: World, fail: BaseException | None = None
) -> tuple[Paused, threading.Thread, list[object]]:
    source = Paused(coffre.settings.document_chunk_bytes, fail)
    outcome: list[object] = []
    thread = threading.Thread(target=_upload, args=(coffre, world, source, outcome))
    thread.start()
    assert source.started.wait(30)
    return source, thread, outcome


def test_other_writes_go_on_while_a_document_arrives(coffre, world):
    documents = _count(coffre, "documents")
    source, thread, outcome = _paused_upload(coffre, world)
    try:
        # Meanwhile: an audited read (a journal entry) and an entry written, at once.
        record = records.read_record(
            coffre.uow(), coffre.vault, world.physician, world.patient_id, CARE
        )
        assert record.patient["name"]
        assert _count(coffre, "documents") == documents  # not filed yet
        assert _count(coffre, "document_uploads") == SMALL_CHUNKS  # sealed, apart
    finally:
        source.go.set()
        thread.join(30)
    [info] = outcome
    assert isinstance(info, records.DocumentInfo)
    assert info.size == source.size
    assert _count(coffre, "document_uploads") == 0
    opened, chunks = records.open_document(
        coffre.uow(), coffre.vault, world.physician, info.id, CARE
    )
    content = b"".join(chunks)
    assert content.startswith(PDF) and len(content) == info.size == opened.size
    created = [r for r in journal_records(coffre) if r.action == "records:document:create"]
    assert created[-1].resource_ids == (info.id,) and created[-1].outcome == "success"


def test_an_upload_that_breaks_off_leaves_nothing(coffre, world):
    documents, entries = _count(coffre, "documents"), len(journal_records(coffre))
    source, thread, outcome = _paused_upload(coffre, world, ConnectionResetError("gone"))
    assert _count(coffre, "document_uploads") == SMALL_CHUNKS
    source.go.set()
    thread.join(30)
    [error] = outcome
    assert isinstance(error, ConnectionResetError)
    assert _count(coffre, "document_uploads") == 0
    assert _count(coffre, "documents") == documents
    assert len(journal_records(coffre)) == entries  # allowed, then nothing filed: no entry


def test_consent_withdrawn_while_a_document_arrives_refuses_it(coffre, world):
    documents = _count(coffre, "documents")
    source, thread, outcome = _paused_upload(coffre, world)
    records.set_consent(
        coffre.uow(), coffre.vault, world.patient_account, world.patient_id, False, REQUEST
    )
    source.go.set()
    thread.join(30)
    [error] = outcome
    assert isinstance(error, AccessDenied)
    assert _count(coffre, "document_uploads") == 0
    assert _count(coffre, "documents") == documents
    refused = journal_records(coffre)[-1]
    assert (refused.action, refused.outcome) == ("records:document:create", "denied")


def test_chunks_left_by_a_dead_upload_are_removed_a_day_later(coffre, world):
    old, recent = datetime.now(UTC) - timedelta(days=2), datetime.now(UTC)
    with coffre.engine.begin() as conn:
        for document_id, at in (("a" * 36, old), ("b" * 36, recent)):
            conn.execute(
                document_uploads.insert().values(
                    document_id=document_id, idx=0, data=b"sealed", created_at=at
                )
            )
    records.add_document(
        coffre.uow(), coffre.vault, world.physician, world.patient_id, io.BytesIO(PDF),
        "application/pdf", title="Lettre", filename="l.pdf", purpose=CARE,
    )  # fmt: skip
    with coffre.engine.connect() as conn:
        left = conn.execute(sa.text("SELECT document_id FROM document_uploads")).scalars().all()
    assert left == ["b" * 36]


def test_a_small_document_is_filed_in_one_transaction(coffre, world):
    """Read whole first (no more than SMALL_CHUNKS chunks): never kept apart."""
    seen: list[int] = []

    class Watched(io.BytesIO):
        def read(self, n: int | None = -1) -> bytes:
            seen.append(_count(coffre, "document_uploads"))
            return super().read(n)

    content = PDF + b"\x00" * (SMALL_CHUNKS * coffre.settings.document_chunk_bytes - len(PDF))
    info = records.add_document(
        coffre.uow(), coffre.vault, world.physician, world.patient_id, Watched(content),
        "application/pdf", title="Lettre", filename="l.pdf", purpose=CARE,
    )  # fmt: skip
    assert info.size == len(content) and set(seen) == {0}
    assert _count(coffre, "document_uploads") == 0
