"""A SQLite engine keeps the connections its units of work give back, so the next unit
skips the pool; a connection in doubt is not kept, and the engine's disposal closes them
all (the database file can then be replaced)."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from coffre.store import UnitOfWork, make_engine
from coffre.store import engine as store_engine


@pytest.fixture
def engine(tmp_path):  # type: ignore[no-untyped-def]
    made = make_engine(f"sqlite:///{tmp_path / 's.sqlite3'}")
    with UnitOfWork(made) as uow:
        uow.connection.exec_driver_sql("CREATE TABLE t (n INTEGER NOT NULL)")
        uow.commit()
    yield made
    made.dispose()


def _driver(uow: UnitOfWork) -> object:
    return uow.connection.connection.driver_connection


def test_units_one_after_another_share_a_connection_and_overlapping_ones_do_not(engine):
    with UnitOfWork(engine, read_only=True) as first:
        kept = _driver(first)
    with UnitOfWork(engine) as second:
        assert _driver(second) is kept
        with UnitOfWork(engine, read_only=True) as inner:
            assert _driver(inner) is not kept


def test_a_kept_connection_does_not_keep_the_read_only_mark(engine):
    with UnitOfWork(engine, read_only=True):
        pass
    with UnitOfWork(engine) as writer:
        # A writer holds the process's write turn: another writer in a thread must wait.
        writer.connection.exec_driver_sql("INSERT INTO t VALUES (1)")
        waited = threading.Event()

        def other() -> None:
            with UnitOfWork(engine) as uow:
                waited.set()
                uow.connection.exec_driver_sql("INSERT INTO t VALUES (2)")
                uow.commit()

        thread = threading.Thread(target=other)
        thread.start()
        assert not waited.wait(0.3)
        writer.commit()
    thread.join(5)
    assert waited.is_set()
    with UnitOfWork(engine, read_only=True) as uow:
        assert uow.connection.exec_driver_sql("SELECT count(*) FROM t").scalar() == 2


def test_a_connection_left_in_a_transaction_or_invalidated_is_not_kept(engine, monkeypatch):
    monkeypatch.setattr(store_engine, "WRITER_WAIT_SECONDS", 0.5)  # a turn kept: no wait
    with UnitOfWork(engine) as uow:
        left = _driver(uow)
        uow.commit()
        # Something began a transaction behind SQLAlchemy's back: the connection goes
        # back to the pool, which rolls it back, instead of straight to the next unit.
        left.execute("BEGIN")  # type: ignore[attr-defined]
        left.execute("INSERT INTO t VALUES (9)")  # type: ignore[attr-defined]
    assert not store_engine._spares[engine].idle
    with UnitOfWork(engine) as uow:
        assert uow.connection.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0
        broken = _driver(uow)
        uow.connection.invalidate()
    assert not store_engine._spares[engine].idle
    with UnitOfWork(engine) as uow:
        assert _driver(uow) is not broken
        assert uow.connection.exec_driver_sql("SELECT 1").scalar() == 1


def test_a_unit_that_cannot_begin_gives_its_connection_back(engine, monkeypatch):
    monkeypatch.setattr(store_engine, "WRITER_WAIT_SECONDS", 0.05)
    with UnitOfWork(engine) as holder:
        with pytest.raises(store_engine.StoreError, match="busy"), UnitOfWork(engine):
            pass
        assert store_engine._spares[engine].idle  # the refused unit's connection, kept
        holder.commit()


def test_disposal_closes_the_kept_connections(engine):
    with UnitOfWork(engine) as uow:
        kept = _driver(uow)
    engine.dispose()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        kept.execute("SELECT 1")  # type: ignore[attr-defined]
    # The engine still works: new connections come from its new pool.
    with UnitOfWork(engine, read_only=True) as uow:
        assert uow.connection.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0
