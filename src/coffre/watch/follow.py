"""Following the journal by position: a reader takes the entries after its cursor, deals
with them, then moves its cursor on. A crash between the two replays those entries (at
least once; the alerts made from them are idempotent), and nothing is ever skipped.

One process at a time follows with a cursor: it holds a lease on it (`claim`), renewed
with its batches and given back when it stops (`release`). Two followers would each see
part of the entries, and a pattern split between them (a scrape counted half here, half
there) would go unnoticed. A process that dies loses its lease when it runs out."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from coffre import journal
from coffre.store import UnitOfWork, insert_new
from coffre.watch.errors import WatchBusy
from coffre.watch.events import event_of
from coffre.watch.tables import watch_cursors

DEFAULT_BATCH = 5_000
LEASE = timedelta(seconds=60)  # how long a follower holds its cursor unless it renews it


def here() -> str:
    """This process, as a cursor's holder is named: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"[:120]


def claim(
    uow: UnitOfWork, name: str, holder: str, now: datetime | None = None, lease: timedelta = LEASE
) -> None:
    """Hold the cursor `name` for `holder`, in the open transaction: take it when it is
    free or its lease ran out, renew it when half of the lease has passed. Raises WatchBusy
    while another holder's lease runs."""
    now = now or datetime.now(UTC)
    c = watch_cursors.c
    # A new cursor starts at the journal's beginning, held by no one; created in one
    # statement, so that two watchers starting at once do not both insert it.
    fresh = {"name": name, "position": 0, "updated_at": now, "holder": None, "held_until": None}
    insert_new(uow.connection, watch_cursors, fresh)
    row = uow.connection.execute(
        sa.select(c.holder, c.held_until).where(c.name == name).with_for_update()
    ).one()
    mine = row.holder == holder
    if not mine and row.holder is not None and row.held_until is not None and row.held_until > now:
        raise WatchBusy(
            f"Another watcher ({row.holder}) follows with the cursor {name!r} until "
            f"{row.held_until.isoformat(timespec='seconds')}; stop it, or let its lease run out."
        )
    if mine and row.held_until is not None and row.held_until - now > lease / 2:
        return  # held, and not yet due for renewal
    uow.connection.execute(
        watch_cursors.update().where(c.name == name).values(holder=holder, held_until=now + lease)
    )


def release(uow: UnitOfWork, name: str, holder: str) -> None:
    """Give the cursor back, if `holder` holds it (in its own transaction)."""
    with uow:
        c = watch_cursors.c
        uow.connection.execute(
            watch_cursors.update()
            .where(c.name == name, c.holder == holder)
            .values(holder=None, held_until=None)
        )
        uow.commit()


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
