"""Tokens: personal access tokens for a person's automation, the revocation and suspension
of any token, and its check on every request (`token_actor`), so a revocation or suspension
bites on the next one. Each change and each refusal is journaled.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from coffre import access, identity
from coffre.access import Decision, Purpose
from coffre.identity import Actor, ActorKind, TokenInfo, TokenKind, tokens
from coffre.identity.errors import ClientError
from coffre.identity.scopes import format_scopes
from coffre.journal import EventKind, Outcome
from coffre.signin.clients import client_actor
from coffre.signin.common import ActorCache, _change, _decided, _journal, _now, _revoked, _with
from coffre.store import UnitOfWork


def _token_decision(actor: Actor, account_id: str | None, organisation_id: str) -> Decision:
    """Who may create or revoke a token: the account holder, for their own personal token;
    else whoever manages the organisation's clients."""
    if actor.kind is ActorKind.ACCOUNT and account_id is not None and actor.id == account_id:
        return Decision(True, "own-token", "an account holder manages their own tokens")
    return access.decide_client_admin(actor, organisation_id)


def issue_personal_token(
    uow: UnitOfWork,
    actor: Actor,
    account_name: str,
    scopes: str,
    lifetime: timedelta,
    name: str = "",
    now: datetime | None = None,
) -> tuple[str, TokenInfo]:
    """A personal access token of an account (`user/` scopes, for `lifetime`) for
    automation; return the token, to be shown once, and what it is."""
    now = _now(now)
    kind = EventKind.TOKEN_CREATE
    with uow:
        account = identity.find_account(uow, account_name)
        decision = _token_decision(actor, account.id, account.organisation_id)
        _decided(uow, actor, kind, decision, f"account:{account.id}")
        token, info = tokens.issue_personal_token(uow, account.id, scopes, lifetime, now, name)
        facts = {"kind": "personal", "scopes": format_scopes(info.scopes)}
        _journal(
            uow,
            actor,
            kind,
            _with(decision, **facts),
            Outcome.SUCCESS,
            f"account:{account.id}",
            f"token:{info.reference}",
        )
        uow.commit()
    return token, info


def _token(uow: UnitOfWork, reference: str) -> TokenInfo:
    info = tokens.token_by_reference(uow, reference)
    if info is None:
        raise ClientError(f"There is no token {reference[:40]!r}.")
    return info


def revoke_token(
    uow: UnitOfWork, actor: Actor, reference: str, now: datetime | None = None
) -> None:
    """Revoke a token, named by its journal reference, for good; it is refused from the
    next request."""
    now = _now(now)
    with uow:
        info = _token(uow, reference)
        _change(
            uow,
            actor,
            EventKind.TOKEN_UPDATE,
            _token_decision(actor, info.account_id, info.organisation_id),
            "revoke",
            f"token:{info.reference}",
            lambda: _revoked(tokens.revoke_token(uow, info.id_hash, now), "token"),
        )


def suspend_token(
    uow: UnitOfWork,
    actor: Actor,
    reference: str,
    reason: str,
    purpose: Purpose = Purpose.SECURITY,
    now: datetime | None = None,
    *,
    resources: tuple[str, ...] = (),
) -> None:
    """Suspend a token (who and why are kept with it); refused from the next request.
    `resources` are also named in the journal entry (the alert that asked for it)."""
    now = _now(now)
    with uow:
        info = _token(uow, reference)
        _change(
            uow,
            actor,
            EventKind.TOKEN_UPDATE,
            access.decide_suspension(actor, info.organisation_id, purpose),
            "suspend",
            f"token:{info.reference}",
            lambda: tokens.set_token_suspended(uow, info.id_hash, now, actor.id, reason),
            resources,
        )


def resume_token(
    uow: UnitOfWork,
    actor: Actor,
    reference: str,
    purpose: Purpose = Purpose.SECURITY,
) -> None:
    """Lift a token's suspension."""
    with uow:
        info = _token(uow, reference)
        _change(
            uow,
            actor,
            EventKind.TOKEN_UPDATE,
            access.decide_suspension(actor, info.organisation_id, purpose),
            "resume",
            f"token:{info.reference}",
            lambda: tokens.set_token_suspended(uow, info.id_hash, None, None, None),
        )


def token_actor(
    uow: UnitOfWork, token: str, now: datetime | None = None, *, source: str = "api"
) -> Actor:
    """The actor a request with this bearer token acts as, checked on every request (the
    token, its client or account: not expired, revoked or suspended; one query), with the
    token's scopes. Who the holder is is kept a few seconds (`ActorCache`). Raises
    TokenRefused. Reads only."""
    now = _now(now)
    info = tokens.check_token(uow, token, now)
    source = source[:120]
    # Kept with the source it calls from: a token's calls mostly come from one place.
    return _actors.get(
        info.id_hash + b"@" + source.encode(),
        lambda: replace(_read_holder(uow, info, now), source=source),
    )


def _read_holder(uow: UnitOfWork, info: TokenInfo, now: datetime) -> Actor:
    with uow.reading() as reader:
        return _holder(reader, info, now)


_actors = ActorCache()


def _holder(uow: UnitOfWork, info: TokenInfo, now: datetime) -> Actor:
    """Who acts with the token: its account, or its client (with its organisation's kind
    and, for a subcontractor, its contracts), with the token's scopes."""
    if info.kind is TokenKind.PERSONAL:
        assert info.account_id is not None
        actor = identity.actor_for(uow, info.account_id, source="api", session_id=info.reference)
        return replace(actor, scopes=info.scopes)
    organisation = identity.get_organisation(uow, info.organisation_id)
    contracts = (
        identity.contracts_in_force(uow, organisation.id, now)
        if organisation.kind is identity.OrganisationKind.SUBCONTRACTOR
        else ()
    )
    return replace(
        client_actor(info, "api", info.reference),
        organisation_kind=organisation.kind,
        contracts=contracts,
        scopes=info.scopes,
    )
