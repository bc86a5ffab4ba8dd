"""What a PostgreSQL engine adds to SQLAlchemy's: the process's turns at a row every writer
updates, and a ping only for connections that were idle (see `prepare_postgres`)."""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError

# How long a unit of work waits for its process's turn at a hot row (`take_turn`) before
# it queues at the database's own lock instead.
TURN_WAIT_SECONDS = 1.0


class _Turn:
    """PostgreSQL: the units of work of one process take turns at a row that every writer
    updates (the journal's head), from `take_turn` until they commit or roll back. Queued
    at that row's lock in the database, every waiter wakes when the holder commits and all
    but one go back to waiting: with the server's dozens of threads, that herd cost more
    than the work (measured: audited reads 25 % faster in the process's turns). Here they
    are handed the turn one at a time, as the holder's COMMIT goes out, so that the next
    one queues at the row alone meanwhile. A unit that waits longer than TURN_WAIT_SECONDS
    goes on without it, to queue at the row itself: a turn is never needed for
    correctness, and a holder waiting for a lock that the next one holds is then a deadlock
    that the database sees and breaks, not one that hangs."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        # The connection whose unit holds the turn (kept here: see engine._Writers.holder).
        self.holder: sa.Connection | None = None

    def take(self, conn: sa.Connection) -> None:
        if self.holder is conn:
            return
        if self.lock.acquire(timeout=TURN_WAIT_SECONDS):
            self.holder = conn

    def end(self, conn: sa.Connection) -> None:
        if self.holder is conn:
            self.holder = None
            self.lock.release()


def take_turn(conn: sa.Connection) -> None:
    """Before updating a row that every writer updates, in a unit of work: wait for this
    process's turn at it (see _Turn), held until the unit commits or rolls back. Nothing
    on SQLite, where writers take turns for their whole transaction."""
    turn = _turns.get(conn.engine)
    if turn is not None:
        turn.take(conn)


def end_turn(engine: Engine, conn: sa.Connection) -> None:
    """Hand on the turn of a unit that ends without a commit or a rollback (an invalidated
    connection), if it holds one."""
    turn = _turns.get(engine)
    if turn is not None:
        turn.end(conn)


_turns: weakref.WeakKeyDictionary[Engine, _Turn] = weakref.WeakKeyDictionary()


# A PostgreSQL connection that came back to the pool longer ago than this is pinged before
# a unit of work uses it, and replaced if the server is gone (restarted, or the connection
# cut while idle). One used more recently is taken as it is: a ping on every checkout is a
# round trip more for every unit of work, a fifth of a short one's. Should the server have
# gone within that time, the unit fails on its first statement and the connection is
# replaced for the next one.
PING_AFTER_IDLE_SECONDS = 2.0


def _returned(_dbapi_connection: object, record: Any) -> None:
    record.info["returned"] = time.monotonic()


def _ping_if_idle(dialect: sa.Dialect) -> Callable[[Any, Any, Any], None]:
    """The pool's checkout hook: ping a connection idle for PING_AFTER_IDLE_SECONDS or
    more (or never used); if it fails, the pool replaces it (DisconnectionError)."""

    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get("returned")
        if returned is not None and time.monotonic() - returned < PING_AFTER_IDLE_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error:
            raise DisconnectionError from None

    return checkout


def prepare_postgres(engine: Engine) -> None:
    """Give a new PostgreSQL engine its turns and its pings."""
    sa.event.listen(engine, "checkout", _ping_if_idle(engine.dialect))
    sa.event.listen(engine, "checkin", _returned)
    turn = _turns[engine] = _Turn()
    sa.event.listen(engine, "commit", turn.end)
    sa.event.listen(engine, "rollback", turn.end)
