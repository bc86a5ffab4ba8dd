"""Password resets: an account's e-mail address (sealed), and single-use reset tokens that
last 30 minutes, of which only a SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa

from coffre.crypto import SecretBox
from coffre.identity.tables import accounts, password_resets
from coffre.store import UnitOfWork

RESET_LIFETIME = timedelta(minutes=30)


def _context(account_id: str) -> str:
    return f"email:{account_id}"


def set_email(uow: UnitOfWork, box: SecretBox, account_id: str, email: str | None) -> None:
    """Store (sealed) or clear the address password resets are sent to."""
    sealed = box.seal(email.strip().encode(), _context(account_id)) if email else None
    uow.connection.execute(
        accounts.update().where(accounts.c.id == account_id).values(email=sealed)
    )


def email_of(uow: UnitOfWork, box: SecretBox, account_id: str) -> str | None:
    sealed = uow.connection.execute(
        sa.select(accounts.c.email).where(accounts.c.id == account_id)
    ).scalar()
    return box.open(sealed, _context(account_id)).decode() if sealed else None


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def new_reset(uow: UnitOfWork, account_id: str, now: datetime) -> str:
    """A reset token for the account (earlier unused ones stop working); shown once."""
    uow.connection.execute(
        password_resets.update()
        .where(password_resets.c.account_id == account_id, password_resets.c.used_at.is_(None))
        .values(used_at=now)
    )
    token = secrets.token_urlsafe(32)
    uow.connection.execute(
        password_resets.insert().values(
            id_hash=_hash(token),
            account_id=account_id,
            created_at=now,
            expires_at=now + RESET_LIFETIME,
        )
    )
    return token


def use_reset(uow: UnitOfWork, token: str, now: datetime) -> str | None:
    """The account the token resets, if it is unused and unexpired (it is then used)."""
    row = uow.connection.execute(
        sa.select(password_resets).where(password_resets.c.id_hash == _hash(token))
    ).first()
    if row is None or row.used_at is not None or now >= row.expires_at:
        return None
    done = uow.connection.execute(
        password_resets.update()
        .where(password_resets.c.id_hash == row.id_hash, password_resets.c.used_at.is_(None))
        .values(used_at=now)
    ).rowcount
    return str(row.account_id) if done else None
