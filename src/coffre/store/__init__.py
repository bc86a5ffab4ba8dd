"""The main database: engine, unit of work and migrations.

Domain packages declare their tables on `metadata` in their own `tables.py`; the schema is
built and changed only by Alembic migrations (`coffre.migrations`).
"""

from coffre.store.engine import (
    StoreError,
    WouldWait,
    at_once,
    driver_target,
    flush_wal,
    flush_wal_apart,
    make_engine,
    metadata,
)
from coffre.store.lean import Lean, run_many, run_rows
from coffre.store.migrate import (
    Migration,
    current_revision,
    downgrade,
    head_revision,
    known_revision,
    pending_migrations,
    script_head,
    upgrade,
)
from coffre.store.postgres import take_turn
from coffre.store.types import BigInt, Id, Timestamp
from coffre.store.uow import UnitOfWork
from coffre.store.upserts import dialect_insert, insert_new, lock_keys

__all__ = [
    "BigInt",
    "Id",
    "Lean",
    "Migration",
    "StoreError",
    "Timestamp",
    "UnitOfWork",
    "WouldWait",
    "at_once",
    "current_revision",
    "dialect_insert",
    "downgrade",
    "driver_target",
    "flush_wal",
    "flush_wal_apart",
    "head_revision",
    "insert_new",
    "known_revision",
    "lock_keys",
    "make_engine",
    "metadata",
    "pending_migrations",
    "run_many",
    "run_rows",
    "script_head",
    "take_turn",
    "upgrade",
]
