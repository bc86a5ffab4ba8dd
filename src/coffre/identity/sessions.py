"""Server-side sessions: opaque random ids, of which only a SHA-256 is stored.

A session ends at its idle timeout, at its absolute timeout, when it is ended (sign-out,
revocation, rotation) or when its account is suspended: `check_session` reads all of this
on every request, so an ending takes effect on the very next one, on every worker.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from coffre.identity.errors import IdentityError
from coffre.identity.tables import accounts, sessions
from coffre.store import UnitOfWork

# last_seen_at is written at most this often, so that reads do not all become writes.
TOUCH_EVERY = timedelta(seconds=30)


class SessionEnded(IdentityError):
    """The session is unknown, ended, timed out, or its account is suspended."""

    exit_code = 4


@dataclass(frozen=True)
class Session:
    id_hash: bytes
    account_id: str
    source: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    idle: timedelta
    mfa: bool
    reauthenticated_at: datetime

    @property
    def reference(self) -> str:
        """What the journal names the session by: not the id, which is a secret."""
        return self.id_hash[:8].hex()


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def session_from_row(row: sa.Row) -> Session:  # type: ignore[type-arg]
    return Session(
        row.id_hash,
        row.account_id,
        row.source,
        row.created_at,
        row.last_seen_at,
        row.expires_at,
        timedelta(seconds=row.idle_seconds),
        row.mfa,
        row.reauthenticated_at,
    )


def open_session(
    uow: UnitOfWork,
    account_id: str,
    source: str,
    now: datetime,
    *,
    idle: timedelta,
    absolute: timedelta,
    mfa: bool,
) -> tuple[str, Session]:
    """A new session; return its token (shown to the client once) and the session."""
    token = secrets.token_urlsafe(32)
    values = {
        "id_hash": hash_token(token),
        "account_id": account_id,
        "source": source[:120],
        "created_at": now,
        "last_seen_at": now,
        "expires_at": now + absolute,
        "idle_seconds": int(idle.total_seconds()),
        "mfa": mfa,
        "reauthenticated_at": now,
    }
    uow.connection.execute(sessions.insert().values(**values))
    return token, Session(
        values["id_hash"], account_id, values["source"], now, now, now + absolute, idle, mfa, now
    )


_CHECK = (
    sa.select(sessions, accounts.c.suspended_at)
    .join(accounts, accounts.c.id == sessions.c.account_id)
    .where(sessions.c.id_hash == sa.bindparam("id_hash"))
)


def check_session(uow: UnitOfWork, token: str, now: datetime, *, touch: bool = True) -> Session:
    """The session this token opens, touched; raise SessionEnded otherwise (a timed-out
    session stays timed out: time only moves on). One query, and a write at most every
    TOUCH_EVERY."""
    row = uow.connection.execute(_CHECK, {"id_hash": hash_token(token)}).first()
    if row is None or row.ended_at is not None:
        raise SessionEnded("The session has ended; sign in again.")
    if row.suspended_at is not None:
        raise SessionEnded("The account is suspended; contact your organisation.")
    session = session_from_row(row)
    if now >= session.expires_at or now - session.last_seen_at >= session.idle:
        raise SessionEnded("The session timed out; sign in again.")
    if touch and touch_due(session, now):
        touch_session(uow, session, now)
    return session


def touch_due(session: Session, now: datetime) -> bool:
    return now - session.last_seen_at >= TOUCH_EVERY


def touch_session(uow: UnitOfWork, session: Session, now: datetime) -> None:
    """Record that the session was used (its idle timeout starts again)."""
    uow.connection.execute(
        sessions.update().where(sessions.c.id_hash == session.id_hash).values(last_seen_at=now)
    )


def end_session(uow: UnitOfWork, id_hash: bytes, now: datetime, by: str, reason: str) -> bool:
    """End one session; return whether it was still open."""
    return bool(
        uow.connection.execute(
            sessions.update()
            .where(sessions.c.id_hash == id_hash, sessions.c.ended_at.is_(None))
            .values(ended_at=now, ended_by=by[:120], ended_reason=reason[:200])
        ).rowcount
    )


def end_all_sessions(
    uow: UnitOfWork,
    account_id: str,
    now: datetime,
    by: str,
    reason: str,
    *,
    keep: bytes | None = None,
) -> int:
    """End every open session of the account (but `keep`); return how many."""
    query = sessions.update().where(
        sessions.c.account_id == account_id, sessions.c.ended_at.is_(None)
    )
    if keep is not None:
        query = query.where(sessions.c.id_hash != keep)
    return int(
        uow.connection.execute(
            query.values(ended_at=now, ended_by=by[:120], ended_reason=reason[:200])
        ).rowcount
    )


def rotate_session(
    uow: UnitOfWork, session: Session, now: datetime, *, mfa: bool | None = None
) -> tuple[str, Session]:
    """Replace the session by a new id (after a sign-in step or a change of privilege),
    keeping its timeouts; the old id stops working at once. Raises SessionEnded if the
    session ended meanwhile (two requests of one session at once: only the first is
    renewed, so that one session never becomes two)."""
    if not end_session(uow, session.id_hash, now, "coffre", "rotated"):
        raise SessionEnded("The session has ended; sign in again.")
    token = secrets.token_urlsafe(32)
    renewed = Session(
        hash_token(token),
        session.account_id,
        session.source,
        session.created_at,
        now,
        session.expires_at,
        session.idle,
        session.mfa if mfa is None else mfa,
        now,
    )
    uow.connection.execute(
        sessions.insert().values(
            id_hash=renewed.id_hash,
            account_id=renewed.account_id,
            source=renewed.source,
            created_at=renewed.created_at,
            last_seen_at=now,
            expires_at=renewed.expires_at,
            idle_seconds=int(renewed.idle.total_seconds()),
            mfa=renewed.mfa,
            reauthenticated_at=now,
        )
    )
    return token, renewed


def active_sessions(uow: UnitOfWork, account_id: str, now: datetime) -> list[Session]:
    """The account's sessions still open and not timed out, newest first."""
    rows = uow.connection.execute(
        sa.select(sessions)
        .where(
            sessions.c.account_id == account_id,
            sessions.c.ended_at.is_(None),
            sessions.c.expires_at > now,
        )
        .order_by(sessions.c.created_at.desc())
    )
    return [s for s in map(session_from_row, rows) if now - s.last_seen_at < s.idle]


CHALLENGE_LIFETIME = timedelta(minutes=5)


def set_challenge(uow: UnitOfWork, session: Session, challenge: bytes, now: datetime) -> None:
    """Keep a WebAuthn challenge with the session, for one use within a few minutes."""
    uow.connection.execute(
        sessions.update()
        .where(sessions.c.id_hash == session.id_hash)
        .values(challenge=challenge, challenge_expires_at=now + CHALLENGE_LIFETIME)
    )


def take_challenge(uow: UnitOfWork, session: Session, now: datetime) -> bytes | None:
    """The session's challenge if still valid; it is forgotten either way. Taken once: the
    row is locked as it is read, so that two requests at once do not both get it."""
    row = uow.connection.execute(
        sa.select(sessions.c.challenge, sessions.c.challenge_expires_at)
        .where(sessions.c.id_hash == session.id_hash)
        .with_for_update()
    ).first()
    uow.connection.execute(
        sessions.update()
        .where(sessions.c.id_hash == session.id_hash)
        .values(challenge=None, challenge_expires_at=None)
    )
    if row is None or row.challenge is None or now >= row.challenge_expires_at:
        return None
    return bytes(row.challenge)
