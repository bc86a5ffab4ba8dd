"""Failed sign-ins, counted per typed username and per source, with progressive locks.

Keys are keyed hashes (HMAC-SHA256) of what was typed: a username that names no account is
counted exactly like one that does, so the limits tell nothing about which accounts exist,
and no username typed by a stranger is stored.

- Per username: the first `free` failures of the last hour cost nothing; each further one
  locks the username for 1, 2, 4, 8 … minutes, at most `longest` (15 minutes). An attacker
  gets a handful of tries an hour; the real person is never locked out for long.
- Per source: more than `source_failures` failures in an hour, over any usernames (a
  distributed stuffing run: many accounts, few tries each), lock that source for an hour.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from coffre.identity.tables import sign_in_failures
from coffre.store import UnitOfWork, dialect_insert

WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class Limits:
    free: int = 3
    longest: timedelta = timedelta(minutes=15)
    source_failures: int = 20
    source_lock: timedelta = timedelta(hours=1)


def username_key(secret: bytes, username: str) -> bytes:
    return hmac.new(
        secret, b"username\x00" + username.strip().casefold().encode(), hashlib.sha256
    ).digest()


def source_key(secret: bytes, source: str) -> bytes:
    return hmac.new(secret, b"source\x00" + source.strip().encode(), hashlib.sha256).digest()


def locked_until(uow: UnitOfWork, keys: list[bytes], now: datetime) -> datetime | None:
    """The latest lock in force on any of these keys, or None."""
    found = uow.connection.execute(
        sa.select(sa.func.max(sign_in_failures.c.locked_until)).where(
            sign_in_failures.c.key.in_(keys), sign_in_failures.c.locked_until > now
        )
    ).scalar()
    return found


def _lock(kind: str, failures: int, now: datetime, limits: Limits) -> datetime | None:
    if kind == "source":
        return now + limits.source_lock if failures > limits.source_failures else None
    if failures <= limits.free:
        return None
    return now + min(timedelta(minutes=2 ** (failures - limits.free - 1)), limits.longest)


def record_failure(uow: UnitOfWork, key: bytes, kind: str, now: datetime, limits: Limits) -> int:
    """Count one failure against the key (`kind` "username" or "source"); return the count
    in the current window. The count moves in one statement (an upsert), which holds the
    key's row until commit: failures at once against one key, as a stuffing run sends them
    over many connections, are each counted (read first, then written, two of them would
    count one, or the second would fail on the first one's new row)."""
    table = sign_in_failures
    over = table.c.window_started_at <= now - WINDOW  # the window ended: start another
    counted = (
        dialect_insert(uow.connection, table)
        .values(key=key, failures=1, window_started_at=now, locked_until=None)
        .on_conflict_do_update(
            index_elements=[table.c.key],
            set_={
                "failures": sa.case((over, 1), else_=table.c.failures + 1),
                "window_started_at": sa.case((over, now), else_=table.c.window_started_at),
            },
        )
        .returning(table.c.failures)
    )
    failures = int(uow.connection.execute(counted).scalar_one())
    uow.connection.execute(
        table.update()
        .where(table.c.key == key)
        .values(locked_until=_lock(kind, failures, now, limits))
    )
    return failures


def clear(uow: UnitOfWork, key: bytes) -> None:
    """Forget the failures of a username after its owner signed in."""
    uow.connection.execute(sign_in_failures.delete().where(sign_in_failures.c.key == key))
