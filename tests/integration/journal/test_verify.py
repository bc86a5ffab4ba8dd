"""`journal.verify` against every way of rewriting the journal, done on the real SQLite file."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from coffre import journal
from coffre.access import Decision, Purpose
from coffre.bootstrap import initialise, open_coffre
from coffre.identity import Actor, ActorKind
from coffre.journal import Entry, EventKind, Outcome
from coffre.journal.entries import encode, timestamp
from coffre.journal.merkle import TILE_WIDTH
from conftest import make_settings

pytestmark = pytest.mark.usefixtures("verify_spread")

SIZE = 600
ALLOW = Decision(True, "operator-subject-access-read", "the local operator may read")


def _actor(n: int) -> Actor:
    return Actor(kind=ActorKind.OPERATOR, id=f"operator:user{n % 7}@host", source="cli@host")


def _entry(n: int) -> Entry:
    return Entry(
        EventKind.PATIENT_READ,
        _actor(n),
        ALLOW,
        Outcome.SUCCESS,
        Purpose.SUBJECT_ACCESS,
        (f"patient-{n % 13}",),
        (),
        datetime.now(UTC),
    )


@pytest.fixture
def settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path / "home", f"sqlite:///{tmp_path / 'home' / 'coffre.db'}")
    initialise(settings)
    coffre = open_coffre(settings)
    with coffre.uow() as uow:
        journal.append(uow, [_entry(n) for n in range(SIZE - 100)])
        uow.commit()
    coffre.checkpoint()
    with coffre.uow() as uow:
        journal.append(uow, [_entry(n) for n in range(SIZE - 100, SIZE)])
        uow.commit()
    coffre.index_journal()
    coffre.checkpoint()
    coffre.close()
    return settings


def _verify(settings):  # type: ignore[no-untyped-def]
    coffre = open_coffre(settings)
    try:
        return journal.verify(coffre.uow(), coffre.signer.verifier, coffre.publisher.newest())
    finally:
        coffre.close()


def _sql(settings, *statements: tuple[str, tuple]) -> None:  # type: ignore[no-untyped-def]
    with sqlite3.connect(settings.home / "coffre.db") as conn:
        for statement, params in statements:
            conn.execute(statement, params)


def _entry_bytes(settings, seq: int) -> bytes:  # type: ignore[no-untyped-def]
    with sqlite3.connect(settings.home / "coffre.db") as conn:
        return conn.execute("SELECT entry FROM journal_entries WHERE seq = ?", (seq,)).fetchone()[0]


def test_an_untouched_journal_verifies(settings):
    report = _verify(settings)
    assert report.ok, report.problems
    assert report.entries == SIZE
    assert report.outside is not None and report.outside.size == SIZE
    assert report.tiles >= 2


def test_an_entry_stored_as_text_is_caught(settings):
    # SQLite keeps what a column is given: the same characters, as text, are another entry.
    _sql(settings, ("UPDATE journal_entries SET entry = CAST(entry AS TEXT) WHERE seq = 42", ()))
    report = _verify(settings)
    assert not report.ok
    assert report.problems == [
        journal.Problem(42, "entry 42: its canonical bytes are stored as another type")
    ]


def test_a_changed_field_inside_the_entry_is_caught(settings):
    data = _entry_bytes(settings, 300).replace(b"may read", b"may edit")
    _sql(settings, ("UPDATE journal_entries SET entry = ? WHERE seq = 300", (data,)))
    report = _verify(settings)
    assert not report.ok
    assert report.problems[0].seq == 300
    assert "stored leaf hash does not match" in report.problems[0].what


def test_a_changed_entry_after_the_last_tile_is_caught_by_the_checkpoint(settings):
    last = SIZE - 1
    assert last >= (SIZE // TILE_WIDTH) * TILE_WIDTH  # beyond the last complete tile
    data = _entry_bytes(settings, last).replace(b"may read", b"may edit")
    _sql(settings, ("UPDATE journal_entries SET entry = ? WHERE seq = ?", (data, last)))
    report = _verify(settings)
    assert not report.ok
    # No stored hash names it: the checkpoints narrow it down to the entries between the
    # last tree that matches (500 entries) and the first that does not.
    assert report.problems[0] == journal.Problem(
        last,
        f"the tree of the first {SIZE} entries does not match its signed checkpoint, though "
        f"that of the first {SIZE - 100} does: one of entries {SIZE - 100} to {last} was "
        "changed, removed or reordered",
    )


def test_a_deleted_entry_in_the_middle_is_caught(settings):
    _sql(
        settings,
        ("DELETE FROM journal_patients WHERE seq = 123", ()),
        ("DELETE FROM journal_entries WHERE seq = 123", ()),
    )
    report = _verify(settings)
    assert report.problems[0].seq == 123
    assert "entries 123 to 123 are missing" in report.problems[0].what
    # Past the gap nothing is checked, and nothing after it is said to be removed.
    whats = [p.what for p in report.problems]
    assert f"a checkpoint covers {SIZE} entries; they could not be checked past entry 123" in whats
    assert not any("removed" in what for what in whats)


def test_a_truncated_journal_is_caught_against_the_outside_checkpoint(settings):
    # The attacker removes the last entries and everything in the database that mentions them.
    cut = 450
    _sql(
        settings,
        ("DELETE FROM journal_patients WHERE seq >= ?", (cut,)),
        ("DELETE FROM journal_entries WHERE seq >= ?", (cut,)),
        ("UPDATE journal_head SET size = ?", (cut,)),
        ("DELETE FROM journal_checkpoints WHERE size > ?", (cut,)),
        ("DELETE FROM journal_tiles WHERE level = 0 AND idx >= ?", (cut // TILE_WIDTH,)),
        ("UPDATE journal_tiles SET hashes = substr(hashes, 1, 32) WHERE level = 1", ()),
    )
    report = _verify(settings)
    assert not report.ok
    assert any(
        f"covers {SIZE} entries but the journal holds {cut}" in p.what for p in report.problems
    )


def test_reordered_entries_are_caught(settings):
    a, b = _entry_bytes(settings, 10), _entry_bytes(settings, 11)
    _sql(
        settings,
        ("UPDATE journal_entries SET entry = ? WHERE seq = 10", (b,)),
        ("UPDATE journal_entries SET entry = ? WHERE seq = 11", (a,)),
    )
    report = _verify(settings)
    assert report.problems[0].seq == 10


def test_entries_renumbered_into_another_order_are_caught(settings):
    # A careful attacker re-encodes two entries with each other's numbers, so each is
    # internally consistent; the tree no longer matches its tiles and checkpoints.
    first, second = (
        journal.decode(_entry_bytes(settings, 20)),
        journal.decode(_entry_bytes(settings, 21)),
    )

    def reencoded(record, seq):  # type: ignore[no-untyped-def]
        entry = Entry(
            EventKind(record.action),
            _actor(0),
            ALLOW,
            Outcome(record.outcome),
            Purpose(record.purpose),
            record.patient_ids,
            record.resource_ids,
        )
        return encode(seq, entry, record.time)

    _sql(
        settings,
        ("UPDATE journal_entries SET entry = ? WHERE seq = 20", (reencoded(second, 20),)),
        ("UPDATE journal_entries SET entry = ? WHERE seq = 21", (reencoded(first, 21),)),
        ("UPDATE journal_patients SET patient_id = ? WHERE seq = 20", (second.patient_ids[0],)),
        ("UPDATE journal_patients SET patient_id = ? WHERE seq = 21", (first.patient_ids[0],)),
    )
    report = _verify(settings)
    assert not report.ok
    assert report.problems[0].seq == 20


def test_a_forged_outside_checkpoint_is_caught(settings):
    latest = settings.checkpoint_dir / f"checkpoint-{SIZE:012d}"
    note = latest.read_text()
    lines = note.split("\n")
    lines[2] = "A" * 43 + "="  # another root, same signature
    latest.write_text("\n".join(lines))
    report = _verify(settings)
    assert "forged or damaged signature" in report.problems[0].what


def test_a_checkpoint_signed_by_another_key_is_caught(settings, tmp_path):
    other = journal.Signer(b"\x07" * 32, "coffre.journal/other")
    latest = settings.checkpoint_dir / f"checkpoint-{SIZE:012d}"
    latest.write_text(other.sign(SIZE, b"\x00" * 32).note)
    report = _verify(settings)
    assert "is not signed by" in report.problems[0].what or "origin" in report.problems[0].what


def test_a_stored_hash_changed_to_match_an_edited_entry_is_caught(settings):
    seq = 77
    data = _entry_bytes(settings, seq).replace(b"may read", b"may edit")
    with sqlite3.connect(settings.home / "coffre.db") as conn:
        tile = bytearray(
            conn.execute("SELECT hashes FROM journal_tiles WHERE level = 0 AND idx = 0").fetchone()[
                0
            ]
        )
        tile[seq * 32 : (seq + 1) * 32] = journal.leaf_hash(data)
        conn.execute("UPDATE journal_entries SET entry = ? WHERE seq = ?", (data, seq))
        conn.execute(
            "UPDATE journal_tiles SET hashes = ? WHERE level = 0 AND idx = 0", (bytes(tile),)
        )
    report = _verify(settings)
    assert not report.ok
    assert report.problems[0].seq == 0
    assert "stored subtree hash does not match" in report.problems[0].what
    assert any("signed checkpoint" in p.what for p in report.problems)


def test_a_missing_outside_checkpoint_is_reported(settings):
    shutil.rmtree(settings.checkpoint_dir)
    report = _verify(settings)
    assert "no checkpoint outside the database" in report.problems[0].what


def test_a_hidden_patient_link_is_caught(settings):
    _sql(settings, ("DELETE FROM journal_patients WHERE seq = 5", ()))
    report = _verify(settings)
    assert report.problems[0].seq == 5
    assert "patient links" in report.problems[0].what


def test_timestamps_are_canonical(settings):
    assert timestamp(datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)) == "2026-01-02T03:04:05.000006Z"
