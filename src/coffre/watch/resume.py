"""Lifting what an alert's containment suspended, at the security officer's word."""

from __future__ import annotations

from typing import Protocol

from coffre import identity, signin
from coffre.identity import Actor, tokens
from coffre.identity import clients as machine
from coffre.identity.errors import IdentityError
from coffre.store import UnitOfWork
from coffre.watch import follow
from coffre.watch.alerts import get_alert
from coffre.watch.errors import WatchError


class _Installation(Protocol):
    def uow(self) -> UnitOfWork: ...


def resume(coffre_like: _Installation, actor: Actor, alert_id: str) -> list[str]:
    """Lift the suspensions still in force on the account, client or token behind the alert
    (each decided and journaled by `signin`, refused unless `actor` is the security officer
    or administrator of its organisation, or the operator); return what was lifted, e.g.
    `account 3f…`. A session that was ended stays ended: its holder signs in again."""
    with coffre_like.uow() as uow:
        alert = get_alert(uow, alert_id)
        if not alert.seqs:
            raise WatchError(f"The alert {alert.id} names no journal entry: nothing to resume.")
        [event] = follow.read(uow, alert.seqs[-1], 1)
        kind, actor_id, reference = event["actor_kind"], event["actor_id"], event["session_id"]
        suspended_account = kind == "account" and identity.is_suspended(uow, actor_id)
        client = _client(uow, actor_id) if kind == "client" else None
        token = tokens.token_by_reference(uow, reference) if reference else None
    lifted = []
    if suspended_account:
        signin.resume_account(coffre_like.uow(), actor, actor_id)
        lifted.append(f"account {actor_id}")
    if client is not None and client.suspended_at is not None:
        signin.resume_client(coffre_like.uow(), actor, client.id)
        lifted.append(f"client {client.id}")
    if token is not None and token.suspended_at is not None:
        signin.resume_token(coffre_like.uow(), actor, token.reference)
        lifted.append(f"token {token.reference}")
    return lifted


def _client(uow: UnitOfWork, client_id: str) -> machine.Client | None:
    try:
        return machine.get_client(uow, client_id)
    except IdentityError:
        return None
