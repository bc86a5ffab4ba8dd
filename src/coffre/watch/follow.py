"""Following the journal by position: a reader takes the entries after its cursor, deals
with them, then moves its cursor on. A crash between the two replays those entries (at
least once; the alerts made from them are idempotent), and nothing is ever skipped."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from coffre import journal
from coffre.store import UnitOfWork
from coffre.watch.events import event_of
from coffre.watch.tables import watch_cursors

DEFAULT_BATCH = 5_000


def position(uow: UnitOfWork, name: str) -> int:
    """The sequence number of the next entry the reader `name` has to read (0 at first)."""
    found = uow.connection.execute(
        sa.select(watch_cursors.c.position).where(watch_cursors.c.name == name)
    ).scalar()
    return int(found) if found is not None else 0


def read(uow: UnitOfWork, start: int, batch: int = DEFAULT_BATCH) -> list[dict[str, Any]]:
    """The events of up to `batch` entries from sequence number `start` on, in order."""
    where = journal.Filter(from_seq=start)
    return [event_of(r) for r in journal.select_records(uow, where, limit=batch)]


def advance(uow: UnitOfWork, name: str, to: int, now: datetime | None = None) -> None:
    """Move the reader's cursor on to `to` (the next entry to read) in the open transaction;
    never backwards, so a slower worker cannot undo another's progress."""
    now = now or datetime.now(UTC)
    current = uow.connection.execute(
        sa.select(watch_cursors.c.position).where(watch_cursors.c.name == name)
    ).scalar()
    if current is None:
        uow.connection.execute(
            watch_cursors.insert().values(name=name, position=to, updated_at=now)
        )
    elif current < to:
        uow.connection.execute(
            watch_cursors.update()
            .where(watch_cursors.c.name == name)
            .values(position=to, updated_at=now)
        )
