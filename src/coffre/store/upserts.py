"""Writes that stay right when transactions run side by side (PostgreSQL, READ COMMITTED:
each statement sees what was committed when it started). SQLite takes one writer at a
time, so a service that reads, decides, then writes is right there; here another request
may change what was read in between. The ways Coffre's services write, by case:

- An insert another transaction may be making at the same moment: one statement,
  INSERT … ON CONFLICT (`insert_new`, `dialect_insert`), which waits for the other to end
  and then knows what to do, instead of a read that sees nothing, then an insert that
  fails on the other's new row.
- A count moved: one upsert or UPDATE … SET n = n + 1, never n read then written.
- A change of a row read first: the row read with FOR UPDATE, or an UPDATE whose WHERE
  repeats what was read (`used_at IS NULL`, `state <> 'closed'`) and whose row count
  says whether it still held.
- A check of several rows, or of rows that may not exist yet, then a write that depends
  on it (no duplicate, under a limit): the thing checked locked by name (`lock_keys`).

tests/sidebyside.py holds the helpers of the tests that keep another transaction in
flight while the one under test runs."""

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
