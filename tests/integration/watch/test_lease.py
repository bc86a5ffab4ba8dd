"""One follower at a time for each cursor: a lease taken, renewed, given back, taken over
when it runs out; a second follower refused (the command line) or kept waiting (a
server's watch) while it runs."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from careworld import World, build_world
from coffre import journal, watch
from coffre.bootstrap import Coffre
from coffre.watch import background, follow, worker
from coffre.watch.background import Watcher
from coffre.watch.imports import READER as IMPORTS
from coffre.watch.tables import watch_cursors
from watchrules import PROBING

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def world(coffre: Coffre) -> World:
    return build_world(coffre)


def lease_of(coffre: Coffre, name: str = "alerts") -> tuple[str | None, datetime | None]:
    with coffre.reader() as uow:
        c = watch_cursors.c
        row = uow.connection.execute(
            sa.select(c.holder, c.held_until).where(c.name == name)
        ).first()
    return (row.holder, row.held_until) if row is not None else (None, None)


def take(coffre: Coffre, holder: str, now: datetime, name: str = "alerts") -> None:
    with coffre.uow() as uow:
        follow.claim(uow, name, holder, now)
        uow.commit()


def test_a_cursor_is_held_by_one_follower_until_given_back_or_run_out(coffre):
    take(coffre, "host-a:1", T0)
    assert lease_of(coffre) == ("host-a:1", T0 + follow.LEASE)
    with pytest.raises(watch.WatchBusy, match=r"host-a:1.*'alerts'"):
        take(coffre, "host-b:2", T0 + follow.LEASE - timedelta(seconds=1))
    assert lease_of(coffre)[0] == "host-a:1"  # the refusal changed nothing

    # Renewed only once half of the lease has passed: no write on every batch.
    take(coffre, "host-a:1", T0 + timedelta(seconds=10))
    assert lease_of(coffre)[1] == T0 + follow.LEASE
    take(coffre, "host-a:1", T0 + timedelta(seconds=31))
    assert lease_of(coffre)[1] == T0 + timedelta(seconds=31) + follow.LEASE

    # Given back: free at once (and only by its holder).
    follow.release(coffre.uow(), "alerts", "host-b:2")
    assert lease_of(coffre)[0] == "host-a:1"
    follow.release(coffre.uow(), "alerts", "host-a:1")
    assert lease_of(coffre) == (None, None)
    take(coffre, "host-b:2", T0 + timedelta(seconds=40))

    # A holder that died: its lease runs out and another takes the cursor over.
    take(coffre, "host-a:1", T0 + timedelta(seconds=40) + follow.LEASE + timedelta(seconds=1))
    assert lease_of(coffre)[0] == "host-a:1"


def test_a_batch_is_refused_while_another_process_follows(coffre, world):
    take(coffre, "elsewhere:7", datetime.now(UTC))
    detector = watch.Detector(watch.load_rules(PROBING), id_field="seq", time_field="time")
    with pytest.raises(watch.WatchBusy):
        worker.run_once(coffre, detector)
    with coffre.reader() as uow:
        assert follow.position(uow, "alerts") == 0  # nothing read, nothing moved
    follow.release(coffre.uow(), "alerts", "elsewhere:7")
    assert worker.run_once(coffre, detector) > 0
    assert lease_of(coffre)[0] == follow.here()


def test_a_servers_watch_waits_for_the_other_follower_then_takes_over(coffre, world, monkeypatch):
    monkeypatch.setattr(background, "BUSY_PAUSE", 0.05)
    take(coffre, "elsewhere:7", datetime.now(UTC))
    watcher = Watcher(coffre, watch.load_rules(PROBING), poll=0.02)
    watcher.start()
    try:
        deadline = time.monotonic() + 10
        while not watcher.waiting and time.monotonic() < deadline:
            time.sleep(0.02)
        assert watcher.waiting and watcher.batches == 0 and not watcher.stuck
        follow.release(coffre.uow(), "alerts", "elsewhere:7")
        while watcher.batches == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert watcher.batches > 0 and not watcher.waiting
        with coffre.reader() as uow:
            assert follow.position(uow, "alerts") == journal.size(uow)
    finally:
        watcher.stop()
    # Stopped: both cursors given back for the next follower.
    assert lease_of(coffre) == (None, None)
    assert lease_of(coffre, IMPORTS) == (None, None)
