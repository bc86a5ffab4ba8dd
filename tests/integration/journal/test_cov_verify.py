"""`journal.verify` against further rewrites of the database: links, tiles, head, checkpoints."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from coffre import journal
from coffre.access import Decision, Purpose
from coffre.bootstrap import initialise, open_coffre
from coffre.identity import Actor, ActorKind
from coffre.journal import Entry, EventKind, Outcome
from coffre.journal.merkle import EMPTY_ROOT, TILE_WIDTH
from coffre.journal.verify import Problem, Report, _compare_tile, _Frontier
from conftest import make_settings

pytestmark = pytest.mark.usefixtures("verify_spread")

SIZE = 600  # two complete level-0 tiles and part of a third
FIRST_CHECKPOINT = 500
ACTOR = Actor(kind=ActorKind.OPERATOR, id="operator:ana@host", source="cli@host")
ALLOW = Decision(True, "operator-subject-access-read", "the local operator may read")


def _entries(count: int) -> list[Entry]:
    return [
        Entry(
            EventKind.PATIENT_READ,
            ACTOR,
            ALLOW,
            Outcome.SUCCESS,
            Purpose.SUBJECT_ACCESS,
            (f"patient-{n % 11}",),
            (),
            datetime.now(UTC),
        )
        for n in range(count)
    ]


def _install(tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path / "home", f"sqlite:///{tmp_path / 'home' / 'coffre.db'}")
    initialise(settings)
    return settings


@pytest.fixture
def installed(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A journal of SIZE entries, fully indexed, with checkpoints at 500 and SIZE."""
    settings = _install(tmp_path)
    coffre = open_coffre(settings)
    try:
        for count in (FIRST_CHECKPOINT, SIZE - FIRST_CHECKPOINT):
            with coffre.uow() as uow:
                journal.append(uow, _entries(count))
                uow.commit()
            coffre.index_journal()
            coffre.checkpoint()
    finally:
        coffre.close()
    return settings


@pytest.fixture
def empty(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A brand-new installation: no entries, no checkpoint."""
    return _install(tmp_path)


def _verify(settings, outside: str | bool | None = True, progress=None) -> Report:  # type: ignore[no-untyped-def]
    """Verify with the newest outside checkpoint (or the note given, or None)."""
    coffre = open_coffre(settings)
    try:
        note = coffre.publisher.newest() if outside is True else outside
        return journal.verify(coffre.uow(), coffre.signer.verifier, note, progress=progress)  # type: ignore[arg-type]
    finally:
        coffre.close()


def _sql(settings, *statements: str | tuple[str, tuple]) -> None:  # type: ignore[no-untyped-def]
    with sqlite3.connect(settings.home / "coffre.db") as conn:
        for statement in statements:
            sql, params = statement if isinstance(statement, tuple) else (statement, ())
            conn.execute(sql, params)


def _entry_bytes(settings, seq: int) -> bytes:  # type: ignore[no-untyped-def]
    with sqlite3.connect(settings.home / "coffre.db") as conn:
        (data,) = conn.execute("SELECT entry FROM journal_entries WHERE seq = ?", (seq,)).fetchone()
    return bytes(data)


def _whats(report: Report) -> list[str]:
    return [p.what for p in report.problems]


# -- entries and their patient links ---------------------------------------------------------


def test_no_more_than_twenty_problems_are_listed(installed):
    _sql(installed, "UPDATE journal_patients SET patient_id = 'patient-ghost' WHERE seq < 30")
    report = _verify(installed)
    assert [p.seq for p in report.problems] == list(range(20))
    assert all("patient links and its canonical bytes differ" in w for w in _whats(report))
    assert report.entries == SIZE


def test_an_entry_numbered_below_zero_stops_the_check_at_once(installed):
    _sql(
        installed,
        "INSERT INTO journal_entries (seq, entry) SELECT -1, entry FROM journal_entries "
        "WHERE seq = 0",
    )
    report = _verify(installed)
    assert report.problems[0].seq == 0
    assert "entry -1" in report.problems[0].what
    assert report.entries == 0


def test_a_patient_link_to_no_entry_is_reported_first(installed):
    _sql(installed, "INSERT INTO journal_patients (patient_id, seq) VALUES ('patient-ghost', -1)")
    report = _verify(installed)
    assert not report.ok
    assert report.problems[0] == Problem(-1, "a patient link points at no entry")


def test_a_patient_link_to_no_entry_is_the_only_problem_reported(installed):
    _sql(installed, "INSERT INTO journal_patients (patient_id, seq) VALUES ('patient-ghost', -1)")
    report = _verify(installed)
    assert report.problems == [Problem(-1, "a patient link points at no entry")]


def test_a_patient_link_past_the_last_entry_is_reported(installed):
    _sql(installed, f"INSERT INTO journal_patients (patient_id, seq) VALUES ('patient-0', {SIZE})")
    report = _verify(installed)
    assert not report.ok


def test_patient_links_beyond_the_indexed_part_are_reported(installed):
    _sql(installed, "UPDATE journal_head SET indexed = 550")
    report = _verify(installed)
    assert report.problems[0] == Problem(
        550, "entry 550: patient links exist beyond the indexed part"
    )


# -- stored hashes -------------------------------------------------------------------------------


def test_a_missing_tile_of_leaf_hashes_is_reported(installed):
    _sql(installed, "DELETE FROM journal_tiles WHERE level = 0 AND idx = 1")
    report = _verify(installed)
    assert not report.ok
    assert "the stored hashes of entries 256 to 511 are missing" in _whats(report)
    assert "the stored leaf hashes of entries 256 to 511 are missing" in _whats(report)
    assert {p.seq for p in report.problems} == {256}


def test_a_journal_whose_tiles_lag_behind_verifies(installed):
    coffre = open_coffre(installed)
    try:
        with coffre.uow() as uow:  # two more complete tiles, not stored until catch_up
            journal.append(uow, _entries(600))
            uow.commit()
    finally:
        coffre.close()
    report = _verify(installed)
    assert report.ok, report.problems
    assert report.entries == SIZE + 600


@pytest.mark.parametrize("mark", [0, 256, 768, 300], ids=["none", "lowered", "raised", "inside"])
def test_a_changed_mark_of_the_stored_hashes_is_reported(installed, mark):
    _sql(installed, f"UPDATE journal_head SET hashed = {mark}")
    report = _verify(installed)
    assert (
        Problem(
            None,
            f"the journal head says the first {mark} entries have stored hashes; "
            "its complete tiles and the stored ones say otherwise",
        )
        in report.problems
    )


def test_tiles_deleted_and_their_mark_lowered_do_not_hide_a_changed_entry(installed):
    data = _entry_bytes(installed, 10).replace(b"patient-10", b"patient-11")
    _sql(
        installed,
        "UPDATE journal_head SET hashed = 0",
        "DELETE FROM journal_tiles",
        ("UPDATE journal_entries SET entry = ? WHERE seq = 10", (data,)),
        "UPDATE journal_patients SET patient_id = 'patient-11' WHERE seq = 10",
    )
    report = _verify(installed)
    # Neither tree matches: the change is somewhere below each checkpoint's size.
    assert _whats(report) == [
        f"the tree of the first {size} entries does not match its signed checkpoint: one of "
        f"entries 0 to {size - 1} was changed, removed or reordered"
        for size in (FIRST_CHECKPOINT, SIZE)
    ]
    assert [p.seq for p in report.problems] == [FIRST_CHECKPOINT - 1, SIZE - 1]


def test_a_shortened_tile_of_leaf_hashes_is_reported(installed):
    _sql(installed, "UPDATE journal_tiles SET hashes = substr(hashes, 1, 320) WHERE level = 0")
    report = _verify(installed)
    assert not report.ok
    assert "its stored leaf hash does not match its contents" in report.problems[0].what


def test_a_shortened_tile_of_leaf_hashes_names_the_first_entry_without_its_hash(installed):
    _sql(installed, "UPDATE journal_tiles SET hashes = substr(hashes, 1, 320) WHERE level = 0")
    report = _verify(installed)
    assert report.problems[0] == Problem(
        10, "entry 10: its stored leaf hash does not match its contents"
    )


@pytest.mark.parametrize(
    ("level", "index"),
    [
        (1, 3),
        (2, 0),
        (3, 7),
    ],
)
def test_stored_hashes_of_nodes_that_do_not_exist_are_reported(installed, level, index):
    _sql(
        installed,
        (
            "INSERT INTO journal_tiles (level, idx, hashes) VALUES (?, ?, ?)",
            (level, index, b"x" * 32),
        ),
    )
    report = _verify(installed)
    assert _whats(report) == [f"stored hashes exist for nodes that do not (tile {level}/{index})"]


def test_a_planted_tile_of_leaf_hashes_past_the_complete_ones_is_reported(installed):
    _sql(
        installed,
        ("INSERT INTO journal_tiles (level, idx, hashes) VALUES (0, 2, ?)", (b"x" * 32 * 256,)),
    )
    coffre = open_coffre(installed)
    try:
        with coffre.uow() as uow:  # the planted hashes change the tree the journal serves
            assert (
                journal.tree(uow).root()
                != coffre.signer.verifier.open(
                    coffre.publisher.newest()  # type: ignore[arg-type]
                ).root
            )
    finally:
        coffre.close()
    assert not _verify(installed).ok


# -- the head --------------------------------------------------------------------------------------


@pytest.mark.parametrize("head", [SIZE - 5, SIZE + 5])
def test_a_head_size_that_disagrees_with_the_entries_is_reported(installed, head):
    _sql(installed, f"UPDATE journal_head SET size = {head}")
    report = _verify(installed)
    assert report.problems == [Problem(SIZE, f"the journal head says {head} entries, {SIZE} found")]
    assert (report.size, report.entries) == (head, SIZE)


# -- checkpoints -----------------------------------------------------------------------------------


def test_a_brand_new_journal_verifies_without_any_checkpoint(empty):
    report = _verify(empty, outside=None)
    assert report.ok
    assert (report.size, report.entries, report.checkpoints, report.tiles) == (0, 0, 0, 0)


def test_an_empty_journal_is_checked_against_its_checkpoint_of_size_zero(empty):
    coffre = open_coffre(empty)
    try:
        coffre.checkpoint()
        forged = coffre.signer.sign(0, b"\x01" * 32).note
    finally:
        coffre.close()
    report = _verify(empty)
    assert report.ok, report.problems
    assert report.checkpoints == 2 and report.outside is not None and report.outside.size == 0
    # The copy in the database alone cannot rule out a truncation.
    assert _whats(_verify(empty, outside=None)) == [
        "no checkpoint outside the database; a truncation cannot be ruled out"
    ]
    report = _verify(empty, outside=forged)
    assert Problem(None, "the database and outside checkpoints of size 0 differ") in report.problems
    assert any("first 0 entries does not match its signed checkpoint" in w for w in _whats(report))


@pytest.mark.parametrize(
    "change",
    [
        f"UPDATE journal_checkpoints SET root = zeroblob(32) WHERE size = {FIRST_CHECKPOINT}",
        f"UPDATE journal_checkpoints SET size = 499 WHERE size = {FIRST_CHECKPOINT}",
    ],
    ids=["root", "size"],
)
def test_a_database_checkpoint_whose_columns_disagree_with_its_note_is_reported(installed, change):
    _sql(installed, change)
    report = _verify(installed)
    assert any(w.endswith("its columns and note differ") for w in _whats(report))
    assert report.checkpoints == 3  # still checked against the tree by its signed note


def test_a_database_checkpoint_with_a_damaged_signature_is_reported_and_skipped(installed):
    _sql(
        installed,
        f"UPDATE journal_checkpoints SET note = replace(note, char(10) || '500' || char(10), "
        f"char(10) || '400' || char(10)) WHERE size = {FIRST_CHECKPOINT}",
    )
    report = _verify(installed)
    assert _whats(report) == [
        f"database checkpoint of size {FIRST_CHECKPOINT}: "
        "The checkpoint has a forged or damaged signature."
    ]
    assert report.checkpoints == 2


def test_an_outside_checkpoint_that_differs_from_the_database_one_is_reported(installed):
    coffre = open_coffre(installed)
    try:
        other = coffre.signer.sign(SIZE, b"\x02" * 32).note  # validly signed, another root
    finally:
        coffre.close()
    report = _verify(installed, outside=other)
    assert Problem(None, f"the database and outside checkpoints of size {SIZE} differ") in (
        report.problems
    )
    # And the tree does not match the outside root, though it matches the one of 500.
    assert report.problems[0].seq == SIZE - 1
    assert report.problems[0].what.endswith(
        f"one of entries {FIRST_CHECKPOINT} to {SIZE - 1} was changed, removed or reordered"
    )


def test_a_malformed_outside_checkpoint_is_reported(installed):
    report = _verify(installed, outside="not a note")
    assert _whats(report) == ["outside checkpoint: The checkpoint is not a signed note."]
    assert report.outside is None


# -- progress --------------------------------------------------------------------------------------


def test_progress_is_reported_once_at_the_end_of_a_small_journal(installed, verify_spread):
    calls: list[int] = []
    assert _verify(installed, progress=calls.append).ok
    assert sum(calls) == SIZE
    if verify_spread == 1:
        assert calls == [SIZE]


def test_progress_is_reported_every_4096_entries(empty, verify_spread):
    coffre = open_coffre(empty)
    try:
        with coffre.uow() as uow:
            journal.append(uow, _entries(4096 + 10))
            uow.commit()
        coffre.index_journal()
        coffre.checkpoint()
    finally:
        coffre.close()
    calls: list[int] = []
    report = _verify(empty, progress=calls.append)
    assert report.ok, report.problems
    assert sum(calls) == 4096 + 10
    if verify_spread == 1:
        assert calls == [4096, 10]
    assert report.tiles == 4096 // TILE_WIDTH + 1


# -- helpers that the stream never reaches -----------------------------------------------------


def test_the_frontier_of_no_subtrees_has_the_empty_root():
    assert _Frontier().root() == EMPTY_ROOT


def test_a_missing_incomplete_tile_of_leaf_hashes_is_not_a_problem():
    report = Report()
    _compare_tile(report, {}, 0, 2, [b"\x00" * 32], full=False)
    assert report.ok
    _compare_tile(report, {}, 0, 2, [b"\x00" * 32] * TILE_WIDTH, full=True)
    assert report.problems == [Problem(512, "the stored hashes of entries 512 to 767 are missing")]


# -- on either database ----------------------------------------------------------------------------


def _verify_open(coffre) -> Report:  # type: ignore[no-untyped-def]
    return journal.verify(coffre.uow(), coffre.signer.verifier, coffre.publisher.newest())


@pytest.fixture
def grown(coffre):  # type: ignore[no-untyped-def]
    """300 entries on SQLite or PostgreSQL, indexed and checkpointed."""
    with coffre.uow() as uow:
        journal.append(uow, _entries(300))
        uow.commit()
    coffre.index_journal()
    coffre.checkpoint()
    return coffre


def _execute(coffre, *statements: str) -> None:  # type: ignore[no-untyped-def]
    with coffre.engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))


def test_a_journal_verifies_on_either_database_and_a_changed_entry_is_caught(grown):
    report = _verify_open(grown)
    assert report.ok, report.problems
    assert (report.entries, report.tiles, report.checkpoints) == (300, 2, 2)
    read = sa.text("SELECT entry FROM journal_entries WHERE seq = 42")
    with grown.engine.begin() as conn:
        data = bytes(conn.execute(read).scalar_one()).replace(b"patient-9", b"patient-0")
        change = sa.text("UPDATE journal_entries SET entry = :data WHERE seq = 42")
        conn.execute(change.bindparams(sa.bindparam("data", data, sa.LargeBinary)))
    report = _verify_open(grown)
    assert report.problems[0] == Problem(
        42, "entry 42: its patient links and its canonical bytes differ"
    )
    assert "stored leaf hash does not match" in report.problems[1].what


def test_a_changed_patient_link_is_caught_on_either_database(grown):
    _execute(grown, "UPDATE journal_patients SET patient_id = 'patient-ghost' WHERE seq = 42")
    report = _verify_open(grown)
    assert report.problems == [
        Problem(42, "entry 42: its patient links and its canonical bytes differ")
    ]


def test_a_missing_entry_stops_the_check_on_either_database(grown):
    _execute(
        grown,
        "DELETE FROM journal_patients WHERE seq = 7",
        "DELETE FROM journal_entries WHERE seq = 7",
    )
    report = _verify_open(grown)
    assert report.problems[0] == Problem(7, "entries 7 to 7 are missing")
    assert report.entries == 7
