"""Signed notes refused when malformed, checkpoints published outside, and made when due."""

from __future__ import annotations

import base64
import shlex
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from coffre import journal
from coffre.access import Decision, Purpose
from coffre.identity import Actor, ActorKind
from coffre.journal import CheckpointInvalid, Entry, EventKind, JournalError, Outcome, Publisher
from coffre.journal.checkpoints import SIGNATURE_PREFIX, Signer, Verifier, stored
from sidebyside import in_thread, waiting_for_a_lock

ORIGIN = "log.example/coffre"
ROOT = bytes(range(32))
ROOT64 = base64.b64encode(ROOT).decode()
SIGNER = Signer(b"\x09" * 32, ORIGIN)


# -- signing and reading notes ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["no final newline", "", "a\n\nblank line inside\n", "ends with a blank line\n\n"]
)
def test_only_a_text_ending_in_one_newline_without_blank_lines_is_signed(text):
    with pytest.raises(JournalError, match="ends with one newline"):
        SIGNER.sign_text(text)


@pytest.mark.parametrize("name", ["two words", "tab\there", "key+name", "line\nbreak"])
def test_an_origin_with_spaces_or_a_plus_is_refused(name):
    with pytest.raises(JournalError, match="must be non-empty"):
        Signer(b"\x09" * 32, name)
    with pytest.raises(JournalError, match="must be non-empty"):
        Verifier(name, SIGNER.public_key)


def test_an_empty_key_name_is_refused_but_an_empty_origin_means_the_default():
    with pytest.raises(JournalError, match="must be non-empty"):
        Verifier("", SIGNER.public_key)
    default = Signer(b"\x09" * 32, "")
    assert default.origin.startswith("coffre.journal/") and len(default.origin) == 31


@pytest.mark.parametrize(
    "note",
    [
        f"{ORIGIN}\n5\n{ROOT64}\n",  # no signature block at all
        f"\n\n{SIGNATURE_PREFIX}{ORIGIN} AAAA\n",  # no text
        SIGNER.sign(5, ROOT).note[:-1],  # signatures without their final newline
    ],
    ids=["unsigned", "empty-text", "unterminated"],
)
def test_a_text_that_is_not_a_signed_note_is_refused(note):
    with pytest.raises(CheckpointInvalid, match="not a signed note"):
        SIGNER.verifier.verify_note(note)


def test_a_signature_line_without_the_em_dash_is_refused():
    note = SIGNER.sign(5, ROOT).note.replace(SIGNATURE_PREFIX, "-- ")
    with pytest.raises(CheckpointInvalid, match="malformed signature line"):
        SIGNER.verifier.verify_note(note)


@pytest.mark.parametrize("blob", ["not*base64", "QUJ", "QQ"])
def test_a_signature_that_is_not_base64_is_refused(blob):
    note = f"{ORIGIN}\n5\n{ROOT64}\n\n{SIGNATURE_PREFIX}{ORIGIN} {blob}\n"
    with pytest.raises(CheckpointInvalid, match="not base64"):
        SIGNER.verifier.verify_note(note)


def test_a_note_of_fewer_than_three_lines_is_not_a_checkpoint():
    note = SIGNER.sign_text(f"{ORIGIN}\n5\n")
    assert SIGNER.verifier.verify_note(note) == f"{ORIGIN}\n5\n"
    with pytest.raises(CheckpointInvalid, match="fewer than three lines"):
        SIGNER.verifier.open(note)


@pytest.mark.parametrize(
    ("size", "root"),
    [
        ("-1", ROOT64),
        ("007", ROOT64),
        ("+7", ROOT64),
        (" 7", ROOT64),
        ("seven", ROOT64),
        ("7", "not*base64"),
        ("7", base64.b64encode(ROOT[:31]).decode()),
        ("7", base64.b64encode(ROOT + b"\x00").decode()),
    ],
    ids=["negative", "leading-zero", "plus", "space", "words", "root-not-b64", "short", "long"],
)
def test_a_signed_checkpoint_with_a_malformed_size_or_root_is_refused(size, root):
    note = SIGNER.sign_text(f"{ORIGIN}\n{size}\n{root}\n")
    with pytest.raises(CheckpointInvalid, match="size or root hash is malformed"):
        SIGNER.verifier.open(note)


def test_a_checkpoint_of_another_origin_signed_by_our_key_is_refused():
    note = SIGNER.sign_text(f"log.example/other\n5\n{ROOT64}\n")
    with pytest.raises(CheckpointInvalid, match=r"origin 'log\.example/other' is not"):
        SIGNER.verifier.open(note)


def test_extension_lines_after_the_root_are_allowed():
    note = SIGNER.sign_text(f"{ORIGIN}\n5\n{ROOT64}\nan extension line\n")
    checkpoint = SIGNER.verifier.open(note)
    assert (checkpoint.origin, checkpoint.size, checkpoint.root) == (ORIGIN, 5, ROOT)
    assert checkpoint.note == note


# -- publishing outside the database ---------------------------------------------------------


def test_a_configured_command_receives_the_note_on_its_standard_input(tmp_path: Path):
    received = tmp_path / "received"
    command = f"sh -c {shlex.quote('cat > ' + shlex.quote(str(received)))}"
    publisher = Publisher(tmp_path / "out", command)
    checkpoint = SIGNER.sign(5, ROOT)
    path = publisher.publish(checkpoint)
    assert path == tmp_path / "out" / "checkpoint-000000000005"
    assert received.read_text(encoding="utf-8") == checkpoint.note
    assert path.read_text(encoding="utf-8") == checkpoint.note
    assert (tmp_path / "out" / "latest").read_text(encoding="utf-8") == checkpoint.note


@pytest.mark.parametrize(
    "command", ["false", "sh -c 'exit 3'", "/nonexistent/coffre-publish"], ids=str
)
def test_a_failing_command_is_an_error_but_the_folder_copy_is_kept(tmp_path: Path, command):
    publisher = Publisher(tmp_path / "out", command)
    checkpoint = SIGNER.sign(6, ROOT)
    with pytest.raises(JournalError, match="checkpoint command failed"):
        publisher.publish(checkpoint)
    assert publisher.newest() == checkpoint.note


def test_newest_is_none_without_a_folder_or_without_checkpoints(tmp_path: Path):
    publisher = Publisher(tmp_path / "never-created")
    assert publisher.newest() is None
    (tmp_path / "never-created").mkdir()
    (tmp_path / "never-created" / "unrelated.txt").write_text("x")
    assert publisher.newest() is None


def test_newest_is_the_checkpoint_of_the_largest_size(tmp_path: Path):
    publisher = Publisher(tmp_path / "out")
    for size in (9, 1000, 10):
        publisher.publish(SIGNER.sign(size, ROOT))
    assert publisher.newest() == SIGNER.sign(1000, ROOT).note
    assert (tmp_path / "out" / "latest").read_text() == SIGNER.sign(10, ROOT).note


def test_newest_ignores_a_temporary_file_left_by_an_interrupted_publish(tmp_path: Path):
    publisher = Publisher(tmp_path / "out")
    publisher.publish(SIGNER.sign(5, ROOT))
    (tmp_path / "out" / "checkpoint-000000000009.tmp").write_text("half a no")
    assert publisher.newest() == SIGNER.sign(5, ROOT).note


# -- making checkpoints of the journal ---------------------------------------------------------

ACTOR = Actor(kind=ActorKind.OPERATOR, id="operator:ana@host", source="cli@host")
ALLOW = Decision(True, "operator-subject-access-read", "the local operator may read")


def _grow(coffre, count: int) -> None:  # type: ignore[no-untyped-def]
    entry = Entry(EventKind.PATIENT_READ, ACTOR, ALLOW, Outcome.SUCCESS, Purpose.SUBJECT_ACCESS)
    with coffre.uow() as uow:
        journal.append(uow, [entry] * count)
        uow.commit()


def _stored_sizes(coffre) -> list[int]:  # type: ignore[no-untyped-def]
    with coffre.uow() as uow:
        return [size for size, _, _ in stored(uow)]


def _if_due(coffre, now: datetime, every_entries: int = 10, every_seconds: int = 3600):  # type: ignore[no-untyped-def]
    return journal.checkpoint_if_due(
        coffre.uow(),
        coffre.signer,
        coffre.publisher,
        every_entries=every_entries,
        every_seconds=every_seconds,
        now=now,
    )


def test_checkpointing_an_already_checkpointed_size_returns_the_stored_checkpoint(sqlite_coffre):
    _grow(sqlite_coffre, 3)
    first = sqlite_coffre.checkpoint()
    (sqlite_coffre.publisher.folder / "checkpoint-000000000003").unlink()
    again = sqlite_coffre.checkpoint()
    assert again == first
    assert _stored_sizes(sqlite_coffre) == [3]
    assert sqlite_coffre.publisher.newest() == first.note  # published again


def test_no_checkpoint_is_due_while_the_journal_has_not_grown(sqlite_coffre):
    now = datetime.now(UTC)
    assert _if_due(sqlite_coffre, now, every_entries=1, every_seconds=0) is None
    assert _stored_sizes(sqlite_coffre) == []
    _grow(sqlite_coffre, 2)
    sqlite_coffre.checkpoint()
    assert _if_due(sqlite_coffre, now + timedelta(days=1), every_seconds=0) is None
    assert _stored_sizes(sqlite_coffre) == [2]


def test_the_first_entries_are_checkpointed_at_once(sqlite_coffre):
    _grow(sqlite_coffre, 1)
    checkpoint = _if_due(sqlite_coffre, datetime.now(UTC), every_entries=1000)
    assert checkpoint is not None and checkpoint.size == 1
    assert _stored_sizes(sqlite_coffre) == [1]


def test_a_checkpoint_is_due_after_enough_entries_or_enough_time(sqlite_coffre):
    _grow(sqlite_coffre, 2)
    sqlite_coffre.checkpoint()
    now = datetime.now(UTC)
    _grow(sqlite_coffre, 3)
    assert _if_due(sqlite_coffre, now, every_entries=4, every_seconds=3600) is None
    assert _if_due(sqlite_coffre, now + timedelta(seconds=3590), every_entries=4) is None
    by_age = _if_due(sqlite_coffre, now + timedelta(seconds=3601), every_entries=4)
    assert by_age is not None and by_age.size == 5
    _grow(sqlite_coffre, 4)
    by_entries = _if_due(sqlite_coffre, now, every_entries=4, every_seconds=3600)
    assert by_entries is not None and by_entries.size == 9
    assert _stored_sizes(sqlite_coffre) == [2, 5, 9]
    assert sqlite_coffre.signer.verifier.open(sqlite_coffre.publisher.newest()).size == 9


def test_whether_a_checkpoint_is_due_is_read_while_another_writer_holds_the_lock(sqlite_coffre):
    _grow(sqlite_coffre, 2)
    sqlite_coffre.checkpoint()
    with sqlite_coffre.uow() as writer:  # the write lock, held as a call would hold it
        journal.append(writer, [Entry(EventKind.PATIENT_READ, ACTOR, ALLOW, Outcome.SUCCESS)])
        started = datetime.now(UTC)
        assert _if_due(sqlite_coffre, started, every_entries=4) is None
        assert datetime.now(UTC) - started < timedelta(seconds=1)  # did not wait for it


def test_a_checkpoint_stored_meanwhile_by_another_process_is_kept(sqlite_coffre):
    _grow(sqlite_coffre, 4)
    coffre = sqlite_coffre
    signer = coffre.signer

    class Racing:
        """Signs as the installation does, but another maker stores the same size first."""

        verifier = signer.verifier

        def sign(self, size, root):  # type: ignore[no-untyped-def]
            journal.make_checkpoint(coffre.uow(), signer, coffre.publisher)
            return signer.sign(size, root)

    made = journal.make_checkpoint(coffre.uow(), Racing(), coffre.publisher)  # type: ignore[arg-type]
    assert made.size == 4
    assert _stored_sizes(coffre) == [4]
    assert coffre.publisher.newest() == made.note


def test_a_checkpoint_another_process_is_storing_is_waited_for_and_kept(postgres_coffre):
    """On PostgreSQL the other maker's row is in flight, not yet committed: the store waits
    for it and keeps it (a read first would have seen nothing, then failed on its key)."""
    coffre = postgres_coffre
    _grow(coffre, 4)
    with coffre.reader() as uow:
        theirs = coffre.signer.sign(4, journal.tree(uow).root())
    made: list[journal.Checkpoint] = []

    def make() -> None:
        made.append(journal.make_checkpoint(coffre.uow(), coffre.signer, None))

    with coffre.engine.begin() as other:
        other.execute(
            sa.text(
                "INSERT INTO journal_checkpoints (size, root, note, created_at) "
                "VALUES (4, :root, :note, '2026-11-23T09:00:00.000000Z')"
            ),
            {"root": theirs.root, "note": theirs.note},
        )
        thread = in_thread(
            lambda: made.append(journal.make_checkpoint(coffre.uow(), coffre.signer, None))
        )
        assert waiting_for_a_lock(coffre.engine)
    thread.join(30)
    assert [c.note for c in made] == [theirs.note]
    assert _stored_sizes(coffre) == [4]
