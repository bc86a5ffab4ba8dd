"""On SQLite, writers of one process queue on a lock before asking for the database's
write lock: each gets its turn in order, readers never wait, and a writer that waits too
long gets a clear error instead of hanging."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from coffre.store import StoreError, UnitOfWork
from coffre.store import engine as store_engine


@pytest.fixture
def engine(tmp_path):  # type: ignore[no-untyped-def]
    made = store_engine.make_engine(f"sqlite:///{tmp_path / 'w.sqlite3'}")
    with made.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE counter (n INTEGER NOT NULL)")
        conn.exec_driver_sql("INSERT INTO counter VALUES (0)")
    yield made
    made.dispose()


def _bump(engine: sa.Engine) -> None:
    with UnitOfWork(engine) as uow:
        n = uow.connection.exec_driver_sql("SELECT n FROM counter").scalar_one()
        uow.connection.exec_driver_sql(f"UPDATE counter SET n = {n + 1}")
        uow.commit()


def test_concurrent_writers_all_pass_and_none_is_lost(engine):
    threads = [
        threading.Thread(target=lambda: [_bump(engine) for _ in range(25)]) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with UnitOfWork(engine, read_only=True) as uow:
        assert uow.connection.exec_driver_sql("SELECT n FROM counter").scalar_one() == 200


def test_a_reader_does_not_wait_for_a_writer_and_a_rollback_frees_the_turn(engine):
    with UnitOfWork(engine) as writer:
        writer.connection.exec_driver_sql("UPDATE counter SET n = 7")
        with UnitOfWork(engine, read_only=True) as reader:
            assert reader.connection.exec_driver_sql("SELECT n FROM counter").scalar_one() == 0
    # The writer rolled back on leaving: the next writer is not kept waiting.
    _bump(engine)


def test_a_writer_waiting_too_long_is_told_so(engine, monkeypatch):
    monkeypatch.setattr(store_engine, "WRITER_WAIT_SECONDS", 0.05)
    with UnitOfWork(engine), pytest.raises(StoreError, match="busy"), UnitOfWork(engine):
        pass
