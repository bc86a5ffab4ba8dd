"""`journal.verify` over spans: worker processes check the same things as one process."""

from __future__ import annotations

import importlib
import io
import json
import logging
import shutil
import sqlite3
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from coffre import journal
from coffre.access import Decision, Purpose
from coffre.bootstrap import initialise, open_coffre
from coffre.identity import Actor, ActorKind
from coffre.journal import Entry, EventKind, Outcome, spans
from coffre.journal.merkle import TILE_WIDTH
from coffre.journal.spans import check_span
from coffre.journal.workers import Workers
from coffre.store import driver_target, make_engine
from conftest import make_settings

verify_module = importlib.import_module("coffre.journal.verify")
workers = importlib.import_module("coffre.journal.workers")

SIZE = 1_000
ALLOW = Decision(True, "operator-subject-access-read", "the local operator may read")


def _entries(first: int, count: int) -> list[Entry]:
    return [
        Entry(
            EventKind.PATIENT_READ,
            Actor(kind=ActorKind.OPERATOR, id=f"operator:user{n % 5}@host", source="cli@host"),
            ALLOW,
            Outcome.SUCCESS,
            Purpose.SUBJECT_ACCESS,
            tuple(f"patient-{(n + k) % 17}" for k in range(n % 3)),  # none, one or two
            (),
            datetime.now(UTC),
        )
        for n in range(first, first + count)
    ]


def _grow(coffre, cuts=(300, 777, SIZE)) -> None:  # type: ignore[no-untyped-def]
    """SIZE entries in three appends, a checkpoint after each (at sizes inside tiles)."""
    done = 0
    for cut in cuts:
        with coffre.uow() as uow:
            journal.append(uow, _entries(done, cut - done))
            uow.commit()
        coffre.index_journal()
        coffre.checkpoint()
        done = cut


def _verify(coffre, workers: int) -> journal.Report:  # type: ignore[no-untyped-def]
    return journal.verify(
        coffre.uow(), coffre.signer.verifier, coffre.publisher.newest(), workers=workers
    )


@pytest.fixture
def small_spans(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> Iterator[None]:
    """Spans of a few hundred entries; no worker may fail and leave its span to us."""
    caplog.set_level(logging.WARNING, logger="coffre.journal.verify")
    monkeypatch.setattr(verify_module, "SPAN_MIN", 100)
    yield
    assert not [r for r in caplog.get_records("call") if "worker failed" in r.getMessage()]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with a journal of SIZE entries on SQLite, copied by each test that changes it."""
    home = tmp_path_factory.mktemp("pristine") / "home"
    settings = make_settings(home, f"sqlite:///{home / 'coffre.db'}")
    initialise(settings)
    coffre = open_coffre(settings)
    try:
        _grow(coffre)
    finally:
        coffre.close()
    return home


def _copy(pristine: Path, where: Path):  # type: ignore[no-untyped-def]
    home = where / "home"
    if home.exists():
        shutil.rmtree(home)
    shutil.copytree(pristine, home)
    return make_settings(home, f"sqlite:///{home / 'coffre.db'}")


def _verify_copy(
    pristine: Path,
    where: Path,
    *changes: str,
    workers: tuple[int, ...] = (1,),
    outside: bool = True,
    progress: Callable[[int], None] | None = None,
) -> list[journal.Report]:
    """Copy the pristine journal, change it with `changes` (SQL), and verify it once with
    each number of workers."""
    settings = _copy(pristine, where)
    with sqlite3.connect(settings.home / "coffre.db") as conn:
        for change in changes:
            conn.execute(change)
    coffre = open_coffre(settings)
    try:
        note = coffre.publisher.newest() if outside else None
        return [
            journal.verify(
                coffre.uow(), coffre.signer.verifier, note, workers=count, progress=progress
            )
            for count in workers
        ]
    finally:
        coffre.close()


@pytest.mark.usefixtures("small_spans")
def test_the_journal_verifies_in_spans_on_either_database(coffre):
    _grow(coffre)
    one, spread = _verify(coffre, 1), _verify(coffre, 4)
    assert one.ok and spread.ok, (one.problems, spread.problems)
    assert (spread.entries, spread.tiles, spread.checkpoints) == (
        one.entries,
        one.tiles,
        one.checkpoints,
    )


def test_a_worker_checks_its_span_as_this_process_does(coffre):
    _grow(coffre)
    job = {
        **driver_target(coffre.engine),  # type: ignore[dict-item]
        "start": 256,
        "end": 768,
        "open_start": False,
        "sizes": [300, 777],
    }
    with Workers([job]) as running:
        (result,) = running.finish(None)
    assert result is not None
    with coffre.reader() as uow:
        here = check_span(
            uow.connection.connection.driver_connection,
            postgres=uow.connection.dialect.name == "postgresql",
            start=256,
            end=768,
            open_start=False,
            sizes=(300, 777),
        )
    assert result.entries == here.entries == 512
    assert result.roots == here.roots and len(here.roots) == 2
    assert result.partials == here.partials and set(here.partials) == {300}
    assert result.problems == here.problems == []


# A worker that tells it checked 100 entries, then fails.
_FAILING = "import sys; print('{\"progress\": 100}', flush=True); sys.exit(3)"


def test_a_failed_worker_s_span_is_checked_here(pristine, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(verify_module, "SPAN_MIN", 100)
    monkeypatch.setattr(workers, "_WORKER", _FAILING)
    change = "UPDATE journal_patients SET patient_id = 'patient-ghost' WHERE seq = 4"
    told: list[int] = []
    with caplog.at_level(logging.WARNING, logger="coffre.journal.verify"):
        (report,) = _verify_copy(pristine, tmp_path, change, workers=(4,), progress=told.append)
    assert report.problems == [
        journal.Problem(4, "entry 4: its patient links and its canonical bytes differ")
    ]
    assert report.entries == SIZE
    assert "worker failed" in caplog.text
    assert sum(told) == SIZE  # what the failed workers told is not told again


@pytest.mark.usefixtures("small_spans")
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    seq=st.integers(0, SIZE - 1),
    at=st.integers(0, 10_000),
    byte=st.integers(0, 255),
)
@example(seq=SIZE - 100, at=300, byte=0)  # past the last complete tile
def test_any_changed_byte_is_reported_alike_by_one_process_and_by_spans(
    pristine, tmp_path, seq, at, byte
):
    with sqlite3.connect(pristine / "coffre.db") as conn:
        (value,) = conn.execute(
            "SELECT entry FROM journal_entries WHERE seq = ?", (seq,)
        ).fetchone()
    changed = bytearray(value)
    at %= len(changed)
    changed[at] = byte if byte != changed[at] else (byte + 1) % 256
    change = f"UPDATE journal_entries SET entry = X'{bytes(changed).hex()}' WHERE seq = {seq}"
    one, spread = _verify_copy(pristine, tmp_path, change, workers=(1, 4))
    assert not one.ok
    first = one.problems[0]
    # Past the last complete tile, no stored leaf hash covers an entry: unless its patient
    # links give it away, the first checkpoint whose tree holds it is named.
    beyond_the_tiles = seq >= SIZE // TILE_WIDTH * TILE_WIDTH
    assert first.seq == seq or (
        beyond_the_tiles and first.seq >= seq and "signed checkpoint" in first.what
    )
    assert spread.problems == one.problems
    assert spread.entries == one.entries == SIZE


def test_the_driver_target_of_each_database(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the SQLite file is created where the URL says
    assert driver_target(make_engine("sqlite:///:memory:")) is None
    target = driver_target(make_engine("sqlite:///relative/coffre.db"))
    assert target is not None and Path(target["sqlite"]).is_absolute()
    engine = make_engine("postgresql+psycopg://coffre:s3cret@db.example:5433/coffre")
    assert driver_target(engine) == {
        "postgresql": "postgresql://coffre:s3cret@db.example:5433/coffre"
    }
    assert isinstance(engine, sa.engine.Engine)


def test_the_worker_program_reports_its_span_as_json_lines(coffre, monkeypatch):
    _grow(coffre)
    job = {**driver_target(coffre.engine), "start": 0, "end": 512, "open_start": True}  # type: ignore[dict-item]
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps({**job, "sizes": [300]}) + "\n"))
    monkeypatch.setattr(sys, "stdout", out := io.StringIO())
    spans.serve()
    *told, last = (json.loads(line) for line in out.getvalue().splitlines())
    assert told == [{"progress": 512}]
    result = spans.SpanResult.from_json(last["result"])
    assert (result.start, result.end, result.entries, result.stopped) == (0, 512, 512, False)
    assert len(result.roots) == 2 and set(result.partials) == {300}
    assert result.problems == [] and result.unmatched == []


def test_a_span_whose_last_entries_are_missing_names_them(pristine, tmp_path):
    settings = _copy(pristine, tmp_path)  # checked span by span, without verify
    with sqlite3.connect(settings.home / "coffre.db") as conn:
        conn.execute("DELETE FROM journal_patients WHERE seq IN (766, 767)")
        conn.execute("DELETE FROM journal_entries WHERE seq IN (766, 767)")
        conn.commit()
        cut = check_span(conn, postgres=False, start=256, end=768, open_start=False)
        past_the_end = check_span(conn, postgres=False, start=768, end=2048, open_start=False)
    assert cut.problems == [(766, "entries 766 to 767 are missing")]
    assert (cut.entries, cut.stopped, cut.stray_link) == (510, True, None)
    assert past_the_end.problems == [] and not past_the_end.stopped
    assert past_the_end.entries == SIZE - 768


@pytest.mark.parametrize(
    ("change", "problem", "alone"),
    [
        (
            "UPDATE journal_entries SET entry = CAST(entry AS TEXT) WHERE seq = 9",
            journal.Problem(9, "entry 9: its canonical bytes are stored as another type"),
            True,  # the same characters as text: the same entry otherwise
        ),
        (
            "UPDATE journal_patients SET patient_id = X'41' WHERE seq = 4",
            journal.Problem(4, "entry 4: its patient links and its canonical bytes differ"),
            True,
        ),
        (
            "UPDATE journal_entries SET entry = 11 WHERE seq = 11",
            journal.Problem(11, "entry 11: its canonical bytes are stored as another type"),
            False,  # other bytes: its links and its leaf hash differ as well
        ),
        (
            "UPDATE journal_entries SET entry = CAST(X'FF' AS TEXT) WHERE seq = 11",
            journal.Problem(11, "entry 11: its canonical bytes are stored as another type"),
            False,
        ),
        (
            "UPDATE journal_patients SET patient_id = CAST(X'C3' AS TEXT) WHERE seq = 4",
            journal.Problem(4, "entry 4: its patient links and its canonical bytes differ"),
            True,
        ),
    ],
    ids=["entry-as-text", "patient", "entry-as-number", "entry-not-utf-8", "patient-not-utf-8"],
)
def test_a_column_rewritten_with_another_type_is_reported(
    pristine, tmp_path, change, problem, alone
):
    told: list[int] = []
    (report,) = _verify_copy(pristine, tmp_path, change, progress=told.append)
    assert report.problems[0] == problem
    assert len(report.problems) == 1 if alone else len(report.problems) > 1
    assert sum(told) == SIZE  # once, though text that is not UTF-8 makes a second reading


def test_no_more_than_twenty_problems_reach_the_report(pristine, tmp_path):
    change = "UPDATE journal_patients SET patient_id = patient_id || '-x' WHERE seq < 40"
    (report,) = _verify_copy(pristine, tmp_path, change, outside=False)
    assert len(report.problems) == 20
    assert report.problems[-1].what.startswith("no checkpoint outside the database")


def test_workers_that_cannot_start_leave_their_spans_to_this_process(
    pristine, tmp_path, monkeypatch, caplog
):
    monkeypatch.setattr(verify_module, "SPAN_MIN", 100)
    monkeypatch.setattr(workers, "_PYTHON", str(tmp_path / "no-such-python"))
    with caplog.at_level(logging.WARNING, logger="coffre.journal.verify"):
        (report,) = _verify_copy(pristine, tmp_path, workers=(4,))
    assert report.ok, report.problems
    assert report.entries == SIZE
    assert caplog.text.count("worker failed") == 3


def test_workers_left_early_are_stopped(pristine):
    job = {"sqlite": str(pristine / "coffre.db"), "start": 0, "end": 256, "open_start": True}
    with Workers([{**job, "sizes": []}]) as running:
        process = running.processes[0]
    assert process.returncode is not None


def test_as_many_workers_as_cores_at_most_eight():
    assert 1 <= journal.default_workers() <= 8


def test_a_driver_error_other_than_text_is_raised(pristine, tmp_path):
    settings = _copy(pristine, tmp_path)
    with sqlite3.connect(settings.home / "coffre.db") as conn:
        conn.execute("DROP TABLE journal_patients")
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            check_span(conn, postgres=False, start=0, end=None, open_start=True)
