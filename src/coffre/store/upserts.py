"""Writes that stay right when transactions run side by side (PostgreSQL). An insert that
another transaction may be making at the same moment is one statement, INSERT … ON
CONFLICT, which waits for the other to end and then knows what to do, instead of a read
followed by an insert that fails on the other's new row. A check, then a write that
depends on it, runs under a lock on what it is about (`lock_keys`)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


def dialect_insert(conn: sa.Connection, table: sa.Table) -> Any:
    """The INSERT of the connection's dialect, which has ON CONFLICT (SQLite's and
    PostgreSQL's both do)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def insert_new(conn: sa.Connection, table: sa.Table, values: Mapping[str, Any]) -> bool:
    """Insert the row unless one with the same primary key is there (that one is left as
    it is); return whether it was inserted."""
    key = list(table.primary_key.columns)
    statement = (
        dialect_insert(conn, table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=key)
        .returning(*key)  # a row when inserted (the driver's row count is not reliable here)
    )
    return conn.execute(statement).first() is not None


def lock_keys(conn: sa.Connection, keys: Iterable[bytes | str]) -> None:
    """Until the transaction ends, hold a lock on each key (bytes or text naming what the
    caller is about to read, then write on what it read): another transaction locking one
    of them waits for this one to end, then reads what it committed. PostgreSQL's advisory
    transaction locks, on a 64-bit digest of each key, taken in order so that two callers
    never wait for each other. Nothing on SQLite, whose writers take turns anyway."""
    if conn.dialect.name != "postgresql":
        return
    digests = {
        hashlib.sha256(key if isinstance(key, bytes) else key.encode()).digest()[:8] for key in keys
    }
    for number in sorted(int.from_bytes(d, "big", signed=True) for d in digests):
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(number)))
