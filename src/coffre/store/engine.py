from __future__ import annotations

import contextlib
import contextvars
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from coffre.errors import CoffreError
from coffre.store.postgres import end_turn, prepare_postgres

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class StoreError(CoffreError):
    """The database cannot be reached or used."""


class WouldWait(StoreError):
    """Within `at_once`, the first unit of work that may write found the write turn taken:
    it did nothing."""


# How long SQLite waits for another process's write lock (milliseconds).
BUSY_TIMEOUT_MS = 10_000

# After how many pages of write-ahead log a commit copies them into the database file
# (SQLite's default), unless the copy is done apart (`flush_wal_apart`).
WAL_AUTOCHECKPOINT_PAGES = 1_000


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    # NORMAL is durable across application crashes in WAL mode; a power cut may lose the
    # last transactions but never corrupts the file or splits an operation from its entry.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Sorting and temporary indexes stay in memory: no plaintext-bearing temp files.
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS:d}")
    cursor.close()


READ_ONLY = "coffre_read_only"


# As many connections as the server's worker threads use at once (FastAPI's pool runs 40):
# a thread that finds none waits for one, and one opened past the pool's size is closed
# when handed back (on PostgreSQL, a new server process for every unit of work under load).
POOL_SIZE = 40
POOL_OVERFLOW = 10

# How long a writer waits for the others of its process before giving up, as SQLite's
# busy_timeout does for other processes.
WRITER_WAIT_SECONDS = 10.0


class _Writers:
    """Writers of one engine queue on a lock in the process before asking SQLite for its
    write lock. SQLite's own wait sleeps and retries, so under load a few unlucky writers
    wait for seconds while others pass; a lock hands the turn over at once, and in order."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        # The connection whose unit holds the turn (the lock is a mutex: one at a time).
        # Kept here, not in the connection's info, which an invalidated connection refuses.
        self.holder: sa.Connection | None = None
        # What the writers' connections are set to: 0 while the log is flushed apart.
        self.wal_autocheckpoint = WAL_AUTOCHECKPOINT_PAGES
        # How many writers wait for the lock (see `_begin_at_once`).
        self.waiting = 0
        self._counting = threading.Lock()

    def begin(self, conn: sa.Connection) -> None:
        # A unit of work that may write takes the write lock up front (BEGIN IMMEDIATE), so
        # two writers queue instead of failing with "database is locked" when a reader
        # upgrades; a read-only one takes no lock and never blocks a writer (WAL).
        if conn.get_execution_options().get(READ_ONLY):
            conn.connection.driver_connection.execute("BEGIN DEFERRED")  # type: ignore[union-attr]
            return
        # On the driver's connection: this runs before every unit that writes, and
        # SQLAlchemy's statement machinery would cost more than the BEGIN itself.
        driver: sqlite3.Connection = conn.connection.driver_connection  # type: ignore[assignment]
        info = conn.connection.info
        if info.get("wal_autocheckpoint") != self.wal_autocheckpoint:
            driver.execute(f"PRAGMA wal_autocheckpoint={self.wal_autocheckpoint:d}")
            info["wal_autocheckpoint"] = self.wal_autocheckpoint
        pending = _at_once.get()
        if pending is not None and not pending.began:
            self._begin_at_once(conn, driver)
            pending.began = True
            return
        if not self._acquire():
            raise StoreError("The database is busy; try again.")
        self.holder = conn
        try:
            driver.execute("BEGIN IMMEDIATE")
        except BaseException:
            self.end(conn)
            raise

    def _acquire(self) -> bool:
        if self.lock.acquire(blocking=False):
            return True
        with self._counting:
            self.waiting += 1
        try:
            return self.lock.acquire(timeout=WRITER_WAIT_SECONDS)
        finally:
            with self._counting:
                self.waiting -= 1

    def _begin_at_once(self, conn: sa.Connection, driver: sqlite3.Connection) -> None:
        """BEGIN IMMEDIATE if nobody holds or waits for the write turn, in this process or
        another; else raise WouldWait. A writer that waits goes first: a caller at once
        that took the turn whenever it was free would keep the others (the watch's
        containment among them) waiting for as long as it has calls to make."""
        if self.waiting or not self.lock.acquire(blocking=False):
            raise WouldWait("The database's write turn is taken.")
        self.holder = conn
        try:
            driver.execute("PRAGMA busy_timeout=0")
            try:
                driver.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if driver.in_transaction or "locked" not in str(exc):
                    raise
                raise WouldWait("Another process holds the database's write lock.") from None
            finally:
                driver.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS:d}")
        except BaseException:
            self.end(conn)
            raise

    def end(self, conn: sa.Connection) -> None:
        if self.holder is conn:
            self.holder = None
            self.lock.release()


class _AtOnce:
    began = False


_at_once: contextvars.ContextVar[_AtOnce | None] = contextvars.ContextVar(
    "coffre_store_at_once", default=None
)


@contextlib.contextmanager
def at_once() -> Iterator[None]:
    """Within: on SQLite, the first unit of work that may write raises WouldWait, having
    done nothing, when it would have to wait for the write turn (another unit of this
    process, or another process, holds it). For a caller that must not block while it
    waits (an event loop), and tries again elsewhere. The units after that first one wait
    as usual: once one has begun, the caller may have written, and must not start over."""
    token = _at_once.set(_AtOnce())
    try:
        yield
    finally:
        _at_once.reset(token)


class _Spares:
    """The SQLAlchemy connections of a SQLite engine that no unit of work holds, kept
    checked out of the pool for the next unit. Taking one from the pool for every unit
    costs more than an audited read's own statements (the pool's checkout and return, and a
    new Connection with its event dispatch); the pool still bounds how many there are."""

    def __init__(self) -> None:
        self.idle: list[sa.Connection] = []

    def take(self, engine: Engine) -> sa.Connection:
        try:
            return self.idle.pop()  # atomic: two threads never get the same one
        except IndexError:
            return engine.connect()

    def give_back(self, conn: sa.Connection) -> None:
        if (
            conn.closed
            or conn.invalidated
            or conn.in_transaction()
            or conn.connection.driver_connection.in_transaction  # type: ignore[union-attr]
        ):
            conn.close()
        else:
            self.idle.append(conn)

    def close(self, _engine: Engine) -> None:
        """On the engine's disposal: its pool is gone already, so the spare connections
        are closed for good here (invalidated), not handed back to it."""
        while self.idle:
            conn = self.idle.pop()
            conn.invalidate()
            conn.close()


_spares: weakref.WeakKeyDictionary[Engine, _Spares] = weakref.WeakKeyDictionary()
_writers: weakref.WeakKeyDictionary[Engine, _Writers] = weakref.WeakKeyDictionary()


@contextlib.contextmanager
def flush_wal_apart(engine: Engine) -> Iterator[bool]:
    """Within: on SQLite, the commits of this process no longer copy the write-ahead log
    into the database file when it has grown (a commit that does waits for the copy and
    its fsync, and so does every call queued behind it); the caller flushes it with
    `flush_wal`, often, from a thread of its own. On the way out, commits copy it again,
    and it is flushed once. Yields whether there is a log to flush (SQLite)."""
    writers = _writers.get(engine)
    if writers is None:
        yield False
        return
    writers.wal_autocheckpoint = 0
    try:
        yield True
    finally:
        writers.wal_autocheckpoint = WAL_AUTOCHECKPOINT_PAGES
        flush_wal(engine)


def flush_wal(engine: Engine) -> None:
    """On SQLite, copy what the write-ahead log holds into the database file, as far as
    no reader still needs it, without waiting for anyone or holding up the writers (a
    passive checkpoint). Nothing elsewhere."""
    if engine not in _writers:
        return
    conn = connect(engine)
    try:
        driver: sqlite3.Connection = conn.connection.driver_connection  # type: ignore[assignment]
        driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    except sqlite3.Error as exc:
        raise StoreError(f"The database's write-ahead log could not be flushed: {exc}.") from None
    finally:
        release(engine, conn)


@contextlib.contextmanager
def alone(engine: Engine) -> Iterator[sa.Connection]:
    """A connection on which each statement is a transaction of its own, and sees one
    consistent state: sent without BEGIN and ROLLBACK, which would double or triple a short
    read's round trips. A Coffre SQLite engine's driver connections are in autocommit
    mode; a PostgreSQL one's is put in it for the while."""
    conn = connect(engine)
    try:
        if engine.dialect.name != "postgresql":
            yield conn
            return
        driver = conn.connection.dbapi_connection
        assert driver is not None
        driver.autocommit = True
        try:
            yield conn
        finally:
            if not conn.invalidated:
                driver.autocommit = False
    finally:
        release(engine, conn)


def connect(engine: Engine) -> sa.Connection:
    """A connection for one unit of work: a spare one of a Coffre SQLite engine, else a
    new one from the pool. Hand it back with `release`."""
    spares = _spares.get(engine)
    return engine.connect() if spares is None else spares.take(engine)


def release(engine: Engine, conn: sa.Connection) -> None:
    """Hand back a connection from `connect`, out of any transaction: kept for the next
    unit if it is sound, else closed. Its unit's write turn is given back if it still
    holds it (a transaction that ended without a rollback, as when invalidated)."""
    writers = _writers.get(engine)
    if writers is not None:
        writers.end(conn)
    end_turn(engine, conn)
    spares = _spares.get(engine)
    if spares is None:
        conn.close()
    else:
        spares.give_back(conn)


def _private_file(path: Path) -> None:
    """Create the database file readable by its owner only; SQLite gives its WAL and shared
    memory files the same mode."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite files get WAL mode and their folder created."""
    backend = url.split(":", 1)[0].split("+", 1)[0]
    if backend not in ("sqlite", "postgresql"):
        raise StoreError(
            f"The database URL {redact(url)} is not supported; use sqlite:///PATH or "
            "postgresql+psycopg://USER@HOST/DATABASE."
        )
    try:
        if url.startswith("sqlite"):
            database = sa.engine.make_url(url).database
            pooled: dict[str, int] = {}
            if database and database != ":memory:" and not database.startswith("file:"):
                _private_file(Path(database))
                # Connections are kept, not reopened: each new one costs its pragmas and a
                # schema read, and the server's threads all ask for one under load.
                pooled = {"pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW}
            engine = sa.create_engine(url, connect_args={"isolation_level": None}, **pooled)
            sa.event.listen(engine, "connect", _sqlite_pragmas)
            writers = _writers[engine] = _Writers()
            sa.event.listen(engine, "begin", writers.begin)
            sa.event.listen(engine, "commit", writers.end)
            sa.event.listen(engine, "rollback", writers.end)
            if pooled:
                spares = _spares[engine] = _Spares()
                sa.event.listen(engine, "engine_disposed", spares.close)
            return engine
        engine = sa.create_engine(url, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW)
        prepare_postgres(engine)
        return engine
    except (ArgumentError, NoSuchModuleError, ValueError):
        raise StoreError(f"The database URL {redact(url)} is not one Coffre can use.") from None


def driver_target(engine: Engine) -> dict[str, str] | None:
    """How another process reaches the same database with the driver alone: {"sqlite":
    path} or {"postgresql": connection string, password included}; None for an in-memory
    database. Hand it over a pipe, never on a command line or in a log."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        database = url.database
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        return {"sqlite": str(Path(database).resolve())}
    return {"postgresql": url.set(drivername="postgresql").render_as_string(hide_password=False)}


def redact(url: str) -> str:
    """The URL with any password hidden, fit for a message or a log."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparseable URL)"
