"""`at_once`: a caller that must not block (an event loop) learns that the write turn is
taken instead of waiting for it, before anything is done; `flush_wal_apart`: commits leave
the write-ahead log to be copied by someone else."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from coffre.store import UnitOfWork, WouldWait, at_once, flush_wal, flush_wal_apart, make_engine
from coffre.store import engine as store_engine
from coffre.store.engine import BUSY_TIMEOUT_MS, WAL_AUTOCHECKPOINT_PAGES


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "s.sqlite3"


@pytest.fixture
def engine(path):  # type: ignore[no-untyped-def]
    made = make_engine(f"sqlite:///{path}")
    with UnitOfWork(made) as uow:
        uow.connection.exec_driver_sql("CREATE TABLE t (n INTEGER NOT NULL, b BLOB)")
        uow.commit()
    yield made
    made.dispose()


def _insert(engine, n: int) -> None:  # type: ignore[no-untyped-def]
    with UnitOfWork(engine) as uow:
        uow.connection.exec_driver_sql(f"INSERT INTO t (n) VALUES ({n:d})")
        uow.commit()


def _count(engine) -> int:  # type: ignore[no-untyped-def]
    with UnitOfWork(engine, read_only=True) as uow:
        return int(uow.connection.exec_driver_sql("SELECT count(*) FROM t").scalar_one())


def _holding_the_turn(engine, release: threading.Event) -> threading.Thread:  # type: ignore[no-untyped-def]
    """A thread of this process holding the write turn until `release` is set."""
    holding = threading.Event()

    def hold() -> None:
        with UnitOfWork(engine) as uow:
            uow.connection.exec_driver_sql("INSERT INTO t (n) VALUES (-1)")
            holding.set()
            release.wait(10)
            uow.commit()

    thread = threading.Thread(target=hold)
    thread.start()
    assert holding.wait(5)
    return thread


def test_with_the_turn_free_a_unit_at_once_writes_as_usual(engine):
    with at_once():
        _insert(engine, 1)
        _insert(engine, 2)
    assert _count(engine) == 2


def test_a_unit_at_once_does_not_wait_for_a_writer_of_this_process(engine):
    release = threading.Event()
    thread = _holding_the_turn(engine, release)
    try:
        start = time.monotonic()
        with at_once(), pytest.raises(WouldWait):
            _insert(engine, 1)
        assert time.monotonic() - start < 1.0
        # Reading never waits, at once or not.
        with at_once():
            assert _count(engine) == 0
    finally:
        release.set()
        thread.join(5)
    assert _count(engine) == 1  # the holder's row; the refused unit wrote nothing
    _insert(engine, 2)  # the turn was given back by the refused unit too
    assert _count(engine) == 2


def test_a_unit_at_once_lets_a_waiting_writer_go_first(engine):
    """The turn is free, but a writer of another thread waits for it (it was about to
    take it): taking it at once whenever it is free would keep that writer waiting for as
    long as calls come."""
    writers = store_engine._writers[engine]
    # A writer that finds the turn taken is counted while it waits.
    release = threading.Event()
    holder = _holding_the_turn(engine, release)
    waiting = threading.Thread(target=_insert, args=(engine, 2))
    waiting.start()
    deadline = time.monotonic() + 5
    while not writers.waiting and time.monotonic() < deadline:
        time.sleep(0.01)
    assert writers.waiting == 1
    release.set()
    holder.join(5)
    waiting.join(5)
    assert writers.waiting == 0
    # The moment between the turn's release and the waiting writer's wake-up.
    writers.waiting = 1
    try:
        with at_once(), pytest.raises(WouldWait):
            _insert(engine, 1)
    finally:
        writers.waiting = 0
    with at_once():
        _insert(engine, 3)
    assert _count(engine) == 3


def test_a_unit_at_once_does_not_wait_for_another_process_and_the_wait_is_restored(engine, path):
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        start = time.monotonic()
        with at_once(), pytest.raises(WouldWait):
            _insert(engine, 1)
        assert time.monotonic() - start < 1.0
        other.execute("ROLLBACK")
    finally:
        other.close()
    with UnitOfWork(engine) as uow:
        # The same (kept) connection waits for others as long as before.
        timeout = uow.connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one()
    assert timeout == BUSY_TIMEOUT_MS
    _insert(engine, 2)
    assert _count(engine) == 1


def test_after_its_first_unit_began_a_call_at_once_waits_like_any_other(engine):
    """Its first unit may have committed: starting the call over could do it twice."""
    release = threading.Event()
    with at_once():
        _insert(engine, 1)
        thread = _holding_the_turn(engine, release)
        threading.Timer(0.3, release.set).start()
        start = time.monotonic()
        _insert(engine, 2)  # waits for the holder, does not raise
        waited = time.monotonic() - start
    thread.join(5)
    assert waited >= 0.25
    assert _count(engine) == 3


def test_at_once_changes_nothing_outside_its_block_nor_in_other_threads(engine):
    release = threading.Event()
    with at_once():
        thread = _holding_the_turn(engine, release)  # a thread: not at once
    threading.Timer(0.2, release.set).start()
    _insert(engine, 1)  # waits, as outside any block
    thread.join(5)
    assert _count(engine) == 2


def _wal_bytes(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def _write_pages(engine, pages: int) -> None:  # type: ignore[no-untyped-def]
    """About `pages` pages of 4 KiB, in transactions of 100."""
    for _ in range(pages // 100):
        with UnitOfWork(engine) as uow:
            uow.connection.exec_driver_sql(
                "INSERT INTO t (n, b) VALUES (0, zeroblob(?))", (100 * 4096,)
            )
            uow.commit()


def test_commits_copy_the_log_unless_it_is_flushed_apart(engine, path):
    page = 4096
    _write_pages(engine, 3 * WAL_AUTOCHECKPOINT_PAGES)
    # The commits copied the log and started it over: it never held much more than the
    # threshold's pages.
    assert _wal_bytes(path) < 1.5 * WAL_AUTOCHECKPOINT_PAGES * page
    flush_wal(engine)
    with flush_wal_apart(engine) as apart:
        assert apart
        _write_pages(engine, 3 * WAL_AUTOCHECKPOINT_PAGES)
        assert _wal_bytes(path) > 2.5 * WAL_AUTOCHECKPOINT_PAGES * page
        flush_wal(engine)
        # Copied: the next writer starts the log over instead of growing it.
        grown = _wal_bytes(path)
        _write_pages(engine, WAL_AUTOCHECKPOINT_PAGES)
        assert _wal_bytes(path) == grown
    with UnitOfWork(engine) as uow:
        pages = uow.connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()
    assert pages == WAL_AUTOCHECKPOINT_PAGES


def test_flushing_the_log_apart_is_nothing_without_one(tmp_path):
    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    with flush_wal_apart(engine) as apart:
        assert not apart
        flush_wal(engine)  # no connection is even opened
    engine.dispose()
