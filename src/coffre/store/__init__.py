"""The main database: engine, unit of work and migrations.

Domain packages declare their tables on `metadata` in their own `tables.py`; the schema is
built and changed only by Alembic migrations (`coffre.migrations`).
"""

from coffre.store.engine import StoreError, make_engine, metadata
from coffre.store.lean import Lean, run_many
from coffre.store.migrate import current_revision, head_revision, upgrade
from coffre.store.types import BigInt, Id, Timestamp
from coffre.store.uow import UnitOfWork

__all__ = [
    "BigInt",
    "Id",
    "Lean",
    "StoreError",
    "Timestamp",
    "UnitOfWork",
    "current_revision",
    "head_revision",
    "make_engine",
    "metadata",
    "run_many",
    "upgrade",
]
