"""Suspending and resuming accounts and sessions for security: journaled, effective on
the very next request, and told to the holder."""

from __future__ import annotations

from datetime import datetime

from coffre import access, identity
from coffre.access import Purpose
from coffre.identity import Actor
from coffre.identity.errors import IdentityError
from coffre.identity.sessions import (
    end_all_sessions,
    end_session,
)
from coffre.journal import EventKind, Outcome
from coffre.notify import NotificationKind
from coffre.signin.common import (
    _journal,
    _now,
    _tell,
)
from coffre.store import UnitOfWork


def suspend_account(
    uow: UnitOfWork,
    actor: Actor,
    account_name: str,
    reason: str,
    purpose: Purpose = Purpose.SECURITY,
    now: datetime | None = None,
    *,
    resources: tuple[str, ...] = (),
) -> int:
    """Suspend an account: its sessions end and it signs nothing in until resumed; takes
    effect on the very next request. Return how many sessions ended. `resources` are also
    named in the journal entry (the alert that asked for it)."""
    now = _now(now)
    with uow:
        account = identity.find_account(uow, account_name)
        decision = access.decide_suspension(actor, account.organisation_id, purpose)
        kind = EventKind.ACCOUNT_SUSPEND
        named = (f"account:{account.id}", *resources)
        if not decision.allowed:
            _journal(uow, actor, kind, decision, Outcome.DENIED, *named)
            uow.commit()
            raise access.AccessDenied(decision.rule, decision.explanation)
        identity.set_suspended(uow, account.id, now, actor.id, reason)
        ended = end_all_sessions(uow, account.id, now, actor.id, f"suspended: {reason}")
        _journal(uow, actor, kind, decision, Outcome.SUCCESS, *named)
        _tell(uow, account, NotificationKind.ACCOUNT_SUSPENDED, now)
        uow.commit()
    return ended


def resume_account(
    uow: UnitOfWork,
    actor: Actor,
    account_name: str,
    purpose: Purpose = Purpose.SECURITY,
    now: datetime | None = None,
) -> None:
    """Lift an account's suspension."""
    now = _now(now)
    with uow:
        account = identity.find_account(uow, account_name)
        decision = access.decide_suspension(actor, account.organisation_id, purpose)
        kind = EventKind.ACCOUNT_RESUME
        if not decision.allowed:
            _journal(uow, actor, kind, decision, Outcome.DENIED, f"account:{account.id}")
            uow.commit()
            raise access.AccessDenied(decision.rule, decision.explanation)
        identity.set_suspended(uow, account.id, None, None, None)
        _journal(uow, actor, kind, decision, Outcome.SUCCESS, f"account:{account.id}")
        _tell(uow, account, NotificationKind.ACCOUNT_RESUMED, now)
        uow.commit()


def suspend_session(
    uow: UnitOfWork,
    actor: Actor,
    reference: str,
    reason: str,
    purpose: Purpose = Purpose.SECURITY,
    now: datetime | None = None,
    *,
    resources: tuple[str, ...] = (),
) -> None:
    """End one session, named by its journal reference (as alerts name it); raise
    IdentityError when no open session has it. `resources` are also named in the journal
    entry (the alert that asked for it)."""
    now = _now(now)
    with uow:
        found = identity.session_by_reference(uow, reference)
        if found is None:
            raise IdentityError(f"There is no open session {reference}.")
        session, organisation = found
        decision = access.decide_suspension(actor, organisation, purpose)
        kind = EventKind.SESSION_END
        named = (f"session:{reference}", *resources)
        if not decision.allowed:
            _journal(uow, actor, kind, decision, Outcome.DENIED, *named)
            uow.commit()
            raise access.AccessDenied(decision.rule, decision.explanation)
        end_session(uow, session.id_hash, now, actor.id, f"suspended: {reason}")
        _journal(uow, actor, kind, decision, Outcome.SUCCESS, *named)
        holder = identity.find_account(uow, session.account_id)
        _tell(uow, holder, NotificationKind.SESSION_ENDED, now)
        uow.commit()
