"""Machine clients, each change and each refusal journaled.

A client gets a token at the token endpoint (`client_token`) with a signed assertion (SMART
Backend Services). Personal access tokens, and the check of any token on every request, are
in `tokens`. The patients a client reaches are charged against its ceilings at the records
gate.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from coffre import access, identity
from coffre.access import Decision, Purpose
from coffre.identity import Actor, ActorKind, Client, TokenInfo, tokens
from coffre.identity import clients as machine
from coffre.identity.errors import ClientRefused
from coffre.identity.scopes import format_scopes
from coffre.journal import EventKind, Outcome
from coffre.signin.common import _change, _decided, _journal, _now, _revoked, _with
from coffre.store import UnitOfWork


@dataclass(frozen=True)
class IssuedToken:
    """The token endpoint's answer (RFC 6749 §5.1): given once."""

    access_token: str
    expires_in: int
    scope: str
    info: TokenInfo
    token_type: str = "Bearer"  # noqa: S105 (the OAuth token type)


def client_actor(client: Client | TokenInfo, source: str, session_id: str | None = None) -> Actor:
    """The actor a client is in the journal (no organisation kind, contracts or scopes)."""
    client_id = client.id if isinstance(client, Client) else client.client_id
    assert client_id is not None
    return Actor(
        kind=ActorKind.CLIENT,
        id=client_id,
        organisation_id=client.organisation_id,
        session_id=session_id,
        source=source[:120],
    )


def add_client(
    uow: UnitOfWork,
    actor: Actor,
    organisation_id: str,
    name: str,
    jwks: str,
    scopes: str,
    *,
    expires_at: datetime,
    per_hour: int,
    per_day: int,
    token_lifetime: timedelta = timedelta(minutes=5),
    now: datetime | None = None,
) -> Client:
    """Register a machine client of the organisation (its public keys, the system scopes it
    may be given, its tokens' longest lifetime, its expiry, its ceilings)."""
    now = _now(now)
    with uow:
        identity.get_organisation(uow, organisation_id)
        decision = access.decide_client_admin(actor, organisation_id)
        kind = EventKind.CLIENT_CREATE
        _decided(uow, actor, kind, decision, f"organisation:{organisation_id}")
        client = machine.register_client(
            uow,
            organisation_id,
            name,
            jwks,
            scopes,
            expires_at=expires_at,
            per_hour=per_hour,
            per_day=per_day,
            token_lifetime=token_lifetime,
            now=now,
        )
        facts = {"scopes": format_scopes(client.scopes), "change": "create"}
        _journal(uow, actor, kind, _with(decision, **facts), Outcome.SUCCESS, f"client:{client.id}")
        uow.commit()
    return client


def revoke_client(
    uow: UnitOfWork, actor: Actor, client_id: str, now: datetime | None = None
) -> None:
    """Revoke a client for good: it gets no token, and its tokens stop at the next request."""
    now = _now(now)
    with uow:
        client = machine.get_client(uow, client_id)
        _change(
            uow,
            actor,
            EventKind.CLIENT_UPDATE,
            access.decide_client_admin(actor, client.organisation_id),
            "revoke",
            f"client:{client.id}",
            lambda: _revoked(machine.revoke_client(uow, client.id, now), "client"),
        )


def suspend_client(
    uow: UnitOfWork,
    actor: Actor,
    client_id: str,
    reason: str,
    purpose: Purpose = Purpose.SECURITY,
    now: datetime | None = None,
    *,
    resources: tuple[str, ...] = (),
) -> None:
    """Suspend a client (who and why are kept with it): it gets no token and its tokens are
    refused from the next request, until resumed. `resources` are also named in the
    journal entry (the alert that asked for it)."""
    now = _now(now)
    with uow:
        client = machine.get_client(uow, client_id)
        _change(
            uow,
            actor,
            EventKind.CLIENT_UPDATE,
            access.decide_suspension(actor, client.organisation_id, purpose),
            "suspend",
            f"client:{client.id}",
            lambda: machine.set_client_suspended(uow, client.id, now, actor.id, reason),
            resources,
        )


def resume_client(
    uow: UnitOfWork,
    actor: Actor,
    client_id: str,
    purpose: Purpose = Purpose.SECURITY,
) -> None:
    """Lift a client's suspension."""
    with uow:
        client = machine.get_client(uow, client_id)
        _change(
            uow,
            actor,
            EventKind.CLIENT_UPDATE,
            access.decide_suspension(actor, client.organisation_id, purpose),
            "resume",
            f"client:{client.id}",
            lambda: machine.set_client_suspended(uow, client.id, None, None, None),
        )


def _claimant(uow: UnitOfWork, refused: ClientRefused, assertion: str, source: str) -> Actor:
    """Who a refused assertion came from: the client if it is known, else an id derived
    from what it claimed (never the claim itself)."""
    if refused.client_id is not None:
        return client_actor(machine.get_client(uow, refused.client_id), source)
    claimed = machine.claimed_client(assertion)
    digest = hashlib.sha256(claimed.encode()).digest()[:8].hex() if claimed else "none"
    return Actor(kind=ActorKind.CLIENT, id=f"unknown:{digest}", source=source[:120])


def client_token(
    uow: UnitOfWork,
    assertion: str,
    *,
    audience: str,
    scope: str | None = None,
    source: str,
    lifetime: timedelta | None = None,
    now: datetime | None = None,
) -> IssuedToken:
    """The token endpoint's work for `client_credentials` with a `private_key_jwt`
    assertion (`audience`: this endpoint's URL): check the assertion, narrow the scopes,
    issue a token. Every refusal is journaled (rule and client id, never the assertion) and
    raised as ClientRefused, whose `error` is the OAuth error code."""
    now = _now(now)
    kind = EventKind.TOKEN_CREATE
    with uow:
        try:
            client = machine.verify_assertion(uow, assertion, audience=audience, now=now)
            scopes = machine.token_scopes(client, scope)
        except ClientRefused as exc:
            actor = _claimant(uow, exc, assertion, source)
            decision = Decision(False, exc.rule, exc.why, {"grant": "client-credentials"})
            resources = (f"client:{exc.client_id}",) if exc.client_id else ()
            _journal(uow, actor, kind, decision, Outcome.DENIED, *resources)
            uow.commit()
            raise
        token, info = tokens.issue_client_token(uow, client, scopes, now, lifetime)
        decision = Decision(
            True,
            "client-credentials",
            "the client signed with a registered key; its scopes are within its own",
            {"grant": "client-credentials", "scopes": format_scopes(scopes)},
        )
        actor = client_actor(client, source, info.reference)
        _journal(
            uow,
            actor,
            kind,
            decision,
            Outcome.SUCCESS,
            f"client:{client.id}",
            f"token:{info.reference}",
        )
        uow.commit()
    expires_in = int((info.expires_at - now).total_seconds())
    return IssuedToken(token, expires_in, format_scopes(scopes), info)
