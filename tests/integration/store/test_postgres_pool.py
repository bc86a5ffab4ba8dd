"""PostgreSQL: the process's turns at a hot row, connections checked only after being idle,
single reads sent without a transaction around them, and writes that stay right when
transactions run side by side (an insert racing another, a check then a write under
locked keys). On SQLite, whose writers take turns, the turn and the keys are nothing."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from coffre.store import Lean, UnitOfWork, insert_new, lock_keys, make_engine, take_turn
from coffre.store import postgres as store_postgres
from sidebyside import in_thread, waiting_for_a_lock

_meta = sa.MetaData()
hot = sa.Table(
    "turn_hot",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("n", sa.Integer, nullable=False),
)
READ_N = Lean(sa.select(hot.c.n).where(hot.c.id == sa.bindparam("id")))


def _made(url: str) -> sa.Engine:
    made = make_engine(url)
    _meta.create_all(made)
    with made.begin() as conn:
        conn.execute(hot.insert(), [{"id": 1, "n": 0}, {"id": 2, "n": 0}])
    return made


@pytest.fixture
def engine(database_url):  # type: ignore[no-untyped-def]
    made = _made(database_url)
    yield made
    made.dispose()


@pytest.fixture
def pg_engine(postgres_url):  # type: ignore[no-untyped-def]
    made = _made(postgres_url)
    yield made
    made.dispose()


@pytest.fixture
def sqlite_engine(tmp_path):  # type: ignore[no-untyped-def]
    made = _made(f"sqlite:///{tmp_path / 'turns.sqlite3'}")
    yield made
    made.dispose()


def _bump(uow: UnitOfWork, row: int = 1) -> None:
    uow.connection.execute(hot.update().where(hot.c.id == row).values(n=hot.c.n + 1))


def _n(engine: sa.Engine, row: int = 1) -> int:
    return int(UnitOfWork(engine).read_alone(READ_N, {"id": row}).n)


def test_many_threads_taking_turns_lose_no_update(engine):
    def work() -> None:
        for _ in range(20):
            with UnitOfWork(engine) as uow:
                take_turn(uow.connection)
                _bump(uow)
                uow.commit()

    threads = [in_thread(work) for _ in range(8)]
    for thread in threads:
        thread.join(30)
    assert _n(engine) == 160


def test_the_turn_is_held_until_commit_or_rollback_then_handed_on(pg_engine):
    order: list[str] = []
    with UnitOfWork(pg_engine) as first:
        take_turn(first.connection)
        take_turn(first.connection)  # taking it again is nothing

        def second() -> None:
            with UnitOfWork(pg_engine) as uow:
                take_turn(uow.connection)
                order.append("second has it")
                _bump(uow)
                uow.rollback()  # a rollback hands it on too
            with UnitOfWork(pg_engine) as uow:
                take_turn(uow.connection)
                order.append("second again")
                uow.commit()

        thread = in_thread(second)
        time.sleep(0.3)
        order.append("first commits")
        _bump(first)
        first.commit()
        thread.join(10)
    assert order == ["first commits", "second has it", "second again"]
    assert _n(pg_engine) == 1


def test_a_unit_ended_without_commit_or_rollback_hands_the_turn_on(pg_engine):
    with UnitOfWork(pg_engine) as uow:
        take_turn(uow.connection)
        uow.connection.invalidate()  # ends with no rollback event: released on the way out
    with UnitOfWork(pg_engine) as uow:
        started = time.monotonic()
        take_turn(uow.connection)
        assert time.monotonic() - started < store_postgres.TURN_WAIT_SECONDS / 2


def test_a_unit_waiting_too_long_goes_on_and_a_deadlock_is_the_database_s_to_break(
    pg_engine, monkeypatch
):
    """The holder of the turn waits for a row that the waiting unit locked: after
    TURN_WAIT_SECONDS the waiting unit goes on without the turn, so the two meet at the
    database's locks, which it resolves, instead of hanging in the process."""
    monkeypatch.setattr(store_postgres, "TURN_WAIT_SECONDS", 0.2)
    locked, results = threading.Event(), {}

    def other() -> None:
        with UnitOfWork(pg_engine) as uow:
            _bump(uow, 2)  # locks row 2
            locked.set()
            started = time.monotonic()
            take_turn(uow.connection)  # held by the main thread: waits, then goes on
            results["waited"] = time.monotonic() - started
            _bump(uow, 1)
            uow.commit()

    with UnitOfWork(pg_engine) as holder:
        take_turn(holder.connection)
        thread = in_thread(other)
        assert locked.wait(10)
        _bump(holder, 2)  # waits for the other unit, which commits once it went on
        holder.commit()
    thread.join(10)
    assert not thread.is_alive()
    assert 0.15 < results["waited"] < 5
    assert (_n(pg_engine, 1), _n(pg_engine, 2)) == (1, 2)


def test_the_turn_is_nothing_on_sqlite(sqlite_engine):
    with UnitOfWork(sqlite_engine) as uow:
        take_turn(uow.connection)
        _bump(uow)
        with UnitOfWork(sqlite_engine, read_only=True) as reader:
            take_turn(reader.connection)  # does not wait for the writer
        uow.commit()
    assert _n(sqlite_engine) == 1


def _backend_pid(uow: UnitOfWork) -> int:
    return int(uow.connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


def _cut(engine: sa.Engine, pid: int) -> None:
    admin = sa.create_engine(engine.url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_terminate_backend({pid:d})")
    finally:
        admin.dispose()


def test_a_connection_cut_while_idle_is_replaced_before_a_unit_uses_it(pg_engine, monkeypatch):
    monkeypatch.setattr(store_postgres, "PING_AFTER_IDLE_SECONDS", 0.0)
    with UnitOfWork(pg_engine) as uow:
        first = _backend_pid(uow)
        uow.commit()
    _cut(pg_engine, first)
    with UnitOfWork(pg_engine) as uow:
        assert _backend_pid(uow) != first
        _bump(uow)
        uow.commit()
    assert _n(pg_engine) == 1


def test_a_connection_used_lately_is_taken_without_a_ping(pg_engine, monkeypatch):
    pings: list[object] = []
    real = pg_engine.dialect.do_ping
    monkeypatch.setattr(pg_engine.dialect, "do_ping", lambda conn: pings.append(conn) or real(conn))
    for _ in range(3):
        with UnitOfWork(pg_engine) as uow:
            _bump(uow)
            uow.commit()
    assert len(pings) <= 1  # at most the first, on a connection never used before
    monkeypatch.setattr(store_postgres, "PING_AFTER_IDLE_SECONDS", 0.0)
    with UnitOfWork(pg_engine) as uow:
        uow.commit()
    assert len(pings) >= 1


def test_a_read_alone_leaves_its_connection_transactional(engine):
    """The single read runs in autocommit on PostgreSQL; the next unit on the same
    connection is a transaction again, which a rollback undoes."""
    assert _n(engine) == 0
    with UnitOfWork(engine) as uow:
        _bump(uow)
        uow.rollback()
    with UnitOfWork(engine) as uow:
        _bump(uow)  # left without commit: rolled back on the way out
    assert _n(engine) == 0


def test_an_insert_racing_another_waits_and_inserts_nothing(pg_engine):
    """The row another transaction is inserting: insert_new waits for its commit, then
    finds the row there and leaves it (a read first would have seen nothing, then failed
    on the other's row)."""
    found: dict[str, object] = {}

    def second() -> None:
        with UnitOfWork(pg_engine) as uow:
            found["inserted"] = insert_new(uow.connection, hot, {"id": 3, "n": 20})
            found["n"] = uow.connection.execute(sa.select(hot.c.n).where(hot.c.id == 3)).scalar()
            uow.commit()

    with UnitOfWork(pg_engine) as first:
        assert insert_new(first.connection, hot, {"id": 3, "n": 10})
        thread = in_thread(second)
        assert waiting_for_a_lock(pg_engine)
        first.commit()
    thread.join(10)
    assert found == {"inserted": False, "n": 10}
    assert _n(pg_engine, 3) == 10


def test_insert_new_inserts_a_new_row_and_leaves_an_old_one(engine):
    with UnitOfWork(engine) as uow:
        assert insert_new(uow.connection, hot, {"id": 9, "n": 1})
        assert not insert_new(uow.connection, hot, {"id": 9, "n": 2})
        assert not insert_new(uow.connection, hot, {"id": 1, "n": 5})
        uow.commit()
    assert (_n(engine, 9), _n(engine, 1)) == (1, 0)


def test_a_check_then_write_under_locked_keys_sees_the_other_s_write(pg_engine):
    """Two transactions each read a count and write it plus one: under lock_keys on the
    same key the second waits for the first and counts from what it wrote."""

    def add_one() -> None:
        with UnitOfWork(pg_engine) as uow:
            lock_keys(uow.connection, [b"counter", "another key"])
            n = uow.connection.execute(sa.select(hot.c.n).where(hot.c.id == 1)).scalar_one()
            uow.connection.execute(hot.update().where(hot.c.id == 1).values(n=n + 1))
            uow.commit()

    with UnitOfWork(pg_engine) as first:
        lock_keys(first.connection, ["another key", b"counter"])  # the order does not matter
        n = first.connection.execute(sa.select(hot.c.n).where(hot.c.id == 1)).scalar_one()
        thread = in_thread(add_one)
        assert waiting_for_a_lock(pg_engine)
        first.connection.execute(hot.update().where(hot.c.id == 1).values(n=n + 1))
        first.commit()
    thread.join(10)
    assert _n(pg_engine) == 2


def test_locked_keys_are_nothing_on_sqlite(sqlite_engine):
    with UnitOfWork(sqlite_engine) as uow:
        lock_keys(uow.connection, [b"counter"])
        _bump(uow)
        uow.commit()
    assert _n(sqlite_engine) == 1
