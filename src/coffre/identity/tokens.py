"""Bearer tokens: a machine client's, and personal access tokens for automation.

Tokens are opaque random strings of which only a SHA-256 is stored; each carries SMART
scopes and an expiry. `check_token` reads, in one query, the token, its client or account:
a revocation or suspension of any of them takes effect on the very next request.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache

import sqlalchemy as sa

from coffre.identity.clients import Client
from coffre.identity.errors import AccountNotFound, ClientError, TokenRefused
from coffre.identity.scopes import Scope, format_scopes, parse_scopes
from coffre.identity.sessions import hash_token
from coffre.identity.tables import accounts, clients, tokens
from coffre.store import Lean, UnitOfWork

DEFAULT_LIFETIME = timedelta(minutes=5)  # a client's token, unless it asks for less
LONGEST_PERSONAL = timedelta(days=90)


class TokenKind(StrEnum):
    CLIENT = "client"
    PERSONAL = "personal"


@dataclass(frozen=True)
class TokenInfo:
    id_hash: bytes
    kind: TokenKind
    client_id: str | None
    account_id: str | None
    organisation_id: str
    scopes: tuple[Scope, ...]
    created_at: datetime
    expires_at: datetime
    name: str = ""
    revoked_at: datetime | None = None
    suspended_at: datetime | None = None

    @property
    def reference(self) -> str:
        """What the journal names the token by: not the token, which is a secret."""
        return self.id_hash[:8].hex()


def _insert(uow: UnitOfWork, info: TokenInfo) -> None:
    uow.connection.execute(
        tokens.insert().values(
            id_hash=info.id_hash,
            kind=info.kind.value,
            client_id=info.client_id,
            account_id=info.account_id,
            scopes=format_scopes(info.scopes),
            name=info.name,
            created_at=info.created_at,
            expires_at=info.expires_at,
        )
    )


def issue_client_token(
    uow: UnitOfWork,
    client: Client,
    scopes: tuple[Scope, ...],
    now: datetime,
    lifetime: timedelta | None = None,
) -> tuple[str, TokenInfo]:
    """A token for an authenticated client (scopes already narrowed); it lives the asked
    lifetime (5 minutes by default), at most the client's longest, never past the client's
    own expiry. Return the token (given once) and what it is."""
    lasts = min(lifetime or DEFAULT_LIFETIME, client.token_lifetime, client.expires_at - now)
    if lasts <= timedelta(0):
        raise ClientError("The client has expired.")
    token = secrets.token_urlsafe(32)
    info = TokenInfo(
        hash_token(token),
        TokenKind.CLIENT,
        client.id,
        None,
        client.organisation_id,
        scopes,
        now,
        now + lasts,
        client.name[:100],
    )
    _insert(uow, info)
    return token, info


def issue_personal_token(
    uow: UnitOfWork,
    account_id: str,
    scopes: str,
    lifetime: timedelta,
    now: datetime,
    name: str = "",
) -> tuple[str, TokenInfo]:
    """A personal access token of the account, with `user/` scopes, for `lifetime` (one
    minute to 90 days). Return the token (shown once) and what it is."""
    granted = parse_scopes(scopes, context="user")
    if not timedelta(minutes=1) <= lifetime <= LONGEST_PERSONAL:
        raise ClientError("A personal access token must last between one minute and 90 days.")
    row = uow.connection.execute(
        sa.select(accounts.c.organisation_id, accounts.c.suspended_at).where(
            accounts.c.id == account_id
        )
    ).first()
    if row is None:
        raise AccountNotFound(f"There is no account {account_id!r}.")
    if row.suspended_at is not None:
        raise ClientError("The account is suspended; it is given no token.")
    token = secrets.token_urlsafe(32)
    info = TokenInfo(
        hash_token(token),
        TokenKind.PERSONAL,
        None,
        account_id,
        row.organisation_id,
        granted,
        now,
        now + lifetime,
        name.strip()[:100],
    )
    _insert(uow, info)
    return token, info


@lru_cache(maxsize=1024)
def _stored_scopes(text: str) -> tuple[Scope, ...]:
    """The scopes of a stored token, parsed once per distinct string (on every request's
    path)."""
    return parse_scopes(text)


def _info(row: sa.Row) -> TokenInfo:  # type: ignore[type-arg]
    return TokenInfo(
        row.id_hash,
        TokenKind(row.kind),
        row.client_id,
        row.account_id,
        row.client_org or row.account_org,
        _stored_scopes(row.scopes),
        row.created_at,
        row.expires_at,
        row.name,
        row.revoked_at,
        row.suspended_at,
    )


_SELECT = sa.select(
    tokens,
    clients.c.organisation_id.label("client_org"),
    clients.c.revoked_at.label("client_revoked_at"),
    clients.c.suspended_at.label("client_suspended_at"),
    clients.c.expires_at.label("client_expires_at"),
    accounts.c.organisation_id.label("account_org"),
    accounts.c.suspended_at.label("account_suspended_at"),
).select_from(
    tokens.outerjoin(clients, clients.c.id == tokens.c.client_id).outerjoin(
        accounts, accounts.c.id == tokens.c.account_id
    )
)
# Built once: `check_token` is on every request's path.
_CHECK = Lean(_SELECT.where(tokens.c.id_hash == sa.bindparam("id_hash")))


def check_token(uow: UnitOfWork, token: str, now: datetime) -> TokenInfo:
    """What the token is, if it may be used now; raise TokenRefused. One query on its own
    (`uow` is not opened: see `UnitOfWork.read_alone`), no write."""
    row = uow.read_alone(_CHECK, {"id_hash": hash_token(token)})
    if row is None:
        raise TokenRefused("The token is not known.", "token-unknown")
    refusals = (
        (row.revoked_at is not None, "The token was revoked.", "token-revoked"),
        (now >= row.expires_at, "The token has expired; ask for a new one.", "token-expired"),
        (
            row.suspended_at is not None,
            "The token is suspended; contact the organisation's security officer.",
            "token-suspended",
        ),
        (row.client_revoked_at is not None, "The token's client was revoked.", "client-revoked"),
        (
            row.client_suspended_at is not None,
            "The token's client is suspended; contact the organisation's security officer.",
            "client-suspended",
        ),
        (
            row.client_expires_at is not None and now >= row.client_expires_at,
            "The token's client has expired.",
            "client-expired",
        ),
        (
            row.account_suspended_at is not None,
            "The token's account is suspended; contact your organisation.",
            "account-suspended",
        ),
    )
    for refused, message, rule in refusals:
        if refused:
            raise TokenRefused(message, rule)
    return _info(row)


def token_by_reference(uow: UnitOfWork, reference: str) -> TokenInfo | None:
    """The token the journal names by `reference` (revoked or not), or None."""
    try:
        prefix = bytes.fromhex(reference)
    except ValueError:
        return None
    if len(prefix) != 8:
        return None
    rows = uow.connection.execute(
        _SELECT.where(sa.func.substr(tokens.c.id_hash, 1, 8) == prefix)
    ).all()
    return _info(rows[0]) if len(rows) == 1 else None


def revoke_token(uow: UnitOfWork, id_hash: bytes, now: datetime) -> bool:
    """Revoke one token for good; return whether it was not revoked already."""
    return bool(
        uow.connection.execute(
            tokens.update()
            .where(tokens.c.id_hash == id_hash, tokens.c.revoked_at.is_(None))
            .values(revoked_at=now)
        ).rowcount
    )


def set_token_suspended(
    uow: UnitOfWork, id_hash: bytes, at: datetime | None, by: str | None, reason: str | None
) -> None:
    """Suspend the token from `at` (by whom, why), or lift it with None."""
    uow.connection.execute(
        tokens.update()
        .where(tokens.c.id_hash == id_hash)
        .values(
            suspended_at=at,
            suspended_by=by[:120] if by else None,
            suspended_reason=reason[:200] if reason else None,
        )
    )
