"""The server's upkeep of the journal: on SQLite its writes are done on the event loop,
between two calls, when they are short; a journal far behind, a write turn held elsewhere
or a database that takes writers side by side sends them to a thread, nothing written."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from coffre import journal
from coffre.access import Decision
from coffre.bootstrap import Coffre, WouldWait
from coffre.identity import local_operator
from coffre.journal import Entry, EventKind, Outcome
from coffre.journal.checkpoints import latest
from coffre.web import app as web_app
from coffre.web.app import UPKEEP_ON_LOOP_ENTRIES, upkeep_at_once
from writeturn import write_turn_held


def appended(coffre: Coffre, count: int) -> None:
    entry = Entry(
        EventKind.KEY_ROTATE, local_operator(), Decision(True, "r", "why"), Outcome.SUCCESS
    )
    with coffre.uow() as uow:
        journal.append(uow, [entry] * count)
        uow.commit()


def state(coffre: Coffre) -> tuple[int, int | None]:
    """How far behind the journal is, and the size of its newest stored checkpoint."""
    with coffre.reader() as uow:
        newest = latest(uow)
        return journal.behind(uow), None if newest is None else newest[0]


def test_a_short_upkeep_indexes_and_stores_a_checkpoint_for_the_caller_to_publish(
    sqlite_coffre: Coffre,
) -> None:
    appended(sqlite_coffre, 300)  # a complete tile and some
    assert state(sqlite_coffre) == (300, None)
    stored = upkeep_at_once(sqlite_coffre)
    assert stored is not None and stored.size == 300
    assert state(sqlite_coffre) == (0, 300)
    assert sqlite_coffre.publisher.newest() is None  # stored, not yet published
    sqlite_coffre.publish(stored)
    assert sqlite_coffre.publisher.newest() == stored.note
    assert upkeep_at_once(sqlite_coffre) is None  # nothing due


def test_a_journal_far_behind_is_left_to_a_thread(sqlite_coffre: Coffre) -> None:
    appended(sqlite_coffre, UPKEEP_ON_LOOP_ENTRIES + 1)
    with pytest.raises(WouldWait):
        upkeep_at_once(sqlite_coffre)
    assert state(sqlite_coffre) == (UPKEEP_ON_LOOP_ENTRIES + 1, None)
    sqlite_coffre.index_journal()  # what the thread does
    assert state(sqlite_coffre)[0] == 0


def test_a_write_turn_held_elsewhere_is_waited_for_in_a_thread(sqlite_coffre: Coffre) -> None:
    appended(sqlite_coffre, 300)
    before = state(sqlite_coffre)
    assert before[0] > 0
    with write_turn_held(sqlite_coffre), pytest.raises(WouldWait):
        upkeep_at_once(sqlite_coffre)
    assert state(sqlite_coffre) == before


def test_on_postgresql_the_upkeep_works_in_a_thread(postgres_coffre: Coffre) -> None:
    appended(postgres_coffre, 300)
    before = state(postgres_coffre)
    assert before[0] > 0
    with pytest.raises(WouldWait):
        upkeep_at_once(postgres_coffre)
    assert state(postgres_coffre) == before


def test_the_upkeep_outlives_an_unexpected_failure_and_logs_its_type_only(
    sqlite_coffre: Coffre, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A pass that fails with an error Coffre did not foresee (a database's own, say) is
    logged by its type, and the next pass does the work: the upkeep does not stop."""
    appended(sqlite_coffre, 300)
    real, passes = web_app.upkeep_at_once, []

    def failing_once(coffre: Coffre) -> journal.Checkpoint | None:
        passes.append(1)
        if len(passes) == 1:
            raise RuntimeError("patient 0000-secret in the text")
        return real(coffre)

    monkeypatch.setattr(web_app, "upkeep_at_once", failing_once)

    async def run_a_while() -> None:
        task = asyncio.create_task(web_app._upkeep(sqlite_coffre, 0.01, flush_wal=False))
        for _ in range(200):
            await asyncio.sleep(0.01)
            if state(sqlite_coffre) == (0, 300):
                break
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    with caplog.at_level(logging.ERROR, logger="coffre.web"):
        asyncio.run(run_a_while())
    assert len(passes) >= 2
    assert state(sqlite_coffre) == (0, 300)
    assert "the journal's upkeep failed (RuntimeError); it runs again" in caplog.text
    assert "secret" not in caplog.text
