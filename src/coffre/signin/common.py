"""What the sign-in services share: their policy and context, their answers and
refusals, and how they journal a step and tell the account holder."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from coffre import access, identity, journal, notify
from coffre.access import Decision
from coffre.crypto import SecretBox
from coffre.identity import Actor, ActorKind, throttle
from coffre.identity.errors import ClientError, IdentityError
from coffre.identity.sessions import (
    Session,
    check_session,
)
from coffre.journal import Entry, EventKind, Outcome
from coffre.notify import NotificationKind, Recipient
from coffre.store import UnitOfWork, lock_keys

WRONG = "Wrong username or password."


class SignInRefused(IdentityError):
    """Signing in (or a step of it) was refused; the message says no more than it may.
    `minutes` is set when the refusal is a lock, to say when to try again."""

    exit_code = 3

    def __init__(self, message: str, minutes: int | None = None) -> None:
        super().__init__(message)
        self.minutes = minutes


class SecondFactorRequired(IdentityError):
    """The session exists but has not yet given (or set up) its second factor."""

    exit_code = 3


class Needs(StrEnum):
    NOTHING = "nothing"  # signed in
    SECOND_FACTOR = "second-factor"  # give a TOTP code, a passkey or a recovery code
    SECOND_FACTOR_SETUP = "second-factor-setup"  # set one up before anything else


@dataclass(frozen=True)
class Policy:
    idle: timedelta = timedelta(minutes=15)  # professionals and staff
    idle_patient: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=12)
    recent: timedelta = timedelta(minutes=5)  # a re-authentication this recent allows changes
    limits: throttle.Limits = field(default_factory=throttle.Limits)


@dataclass(frozen=True)
class Context:
    """What signing in needs from the installation: the system-secrets box (TOTP secrets),
    the key of the failure counters, the policy."""

    box: SecretBox
    throttle_key: bytes
    policy: Policy = field(default_factory=Policy)
    forms_key: bytes = b""  # the web forms' CSRF tokens and sealed fields

    @classmethod
    def from_secret(cls, system_secret: bytes, policy: Policy | None = None) -> Context:
        def derived(label: bytes) -> bytes:
            return hmac.new(system_secret, label, hashlib.sha256).digest()

        return cls(
            SecretBox(system_secret),
            derived(b"coffre sign-in throttle"),
            policy or Policy(),
            derived(b"coffre web forms"),
        )


@dataclass(frozen=True)
class Step:
    """Where signing in stands: the session token to use next, and what it still needs."""

    token: str
    needs: Needs
    session: Session


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _journal(
    uow: UnitOfWork,
    actor: Actor,
    kind: EventKind,
    decision: Decision,
    outcome: Outcome,
    *resources: str,
) -> list[int]:
    """Append one sign-in entry (no patient) in the open transaction."""
    return journal.append(uow, [Entry(kind, actor, decision, outcome, None, (), resources)])


def _actor(account: identity.Account, source: str, session: Session | None = None) -> Actor:
    return Actor(
        kind=ActorKind.ACCOUNT,
        id=account.id,
        organisation_id=account.organisation_id,
        role=account.role,
        profession=account.profession,
        session_id=session.reference if session else None,
        source=source[:120],
        patient_id=account.patient_id,
    )


def _refuse(
    uow: UnitOfWork,
    ctx: Context,
    actor: Actor,
    username: str,
    now: datetime,
    rule: str,
    why: str,
) -> SignInRefused:
    """Count the failure against the typed username and the source, journal it, commit."""
    limits = ctx.policy.limits
    throttle.record_failure(
        uow, throttle.username_key(ctx.throttle_key, username), "username", now, limits
    )
    throttle.record_failure(
        uow, throttle.source_key(ctx.throttle_key, actor.source), "source", now, limits
    )
    _journal(uow, actor, EventKind.LOGIN, Decision(False, rule, why), Outcome.DENIED)
    uow.commit()
    return SignInRefused(WRONG)


def _check_lock(uow: UnitOfWork, actor: Actor, keys: list[bytes], now: datetime) -> None:
    """Refuse (journaled, committed) while any of these keys is locked. The keys stay
    locked to other transactions until this one ends, so that attempts at once are judged
    one after the other, each on the failures counted before it (PostgreSQL)."""
    lock_keys(uow.connection, keys)
    locked = throttle.locked_until(uow, keys, now)
    if locked is None:
        return
    minutes = max(1, int((locked - now).total_seconds() + 59) // 60)
    _journal(
        uow,
        actor,
        EventKind.LOGIN,
        Decision(False, "sign-in-locked", "too many failed sign-ins"),
        Outcome.DENIED,
    )
    uow.commit()
    raise SignInRefused(f"Too many attempts; try again in {minutes} minutes.", minutes)


def _signed_in(uow: UnitOfWork, token: str, now: datetime) -> Session:
    """The session, if it completed signing in (second factor included where needed)."""
    session = check_session(uow, token, now)
    if not session.mfa:
        raise SecondFactorRequired("Finish signing in with your second factor.")
    return session


def _account(uow: UnitOfWork, session: Session) -> identity.Account:
    return identity.find_account(uow, session.account_id)


@dataclass(frozen=True)
class RelyingParty:
    """Who the browser talks to, for WebAuthn: the site's domain and its origin."""

    id: str = "localhost"
    origin: str = "http://localhost:8000"
    name: str = "Coffre"


def _tell(
    uow: UnitOfWork, account: identity.Account, kind: NotificationKind, now: datetime
) -> None:
    notify.enqueue(uow, Recipient.ACCOUNT, account.id, kind, {"at": now.isoformat()})


class ActorCache:
    """Who an account or client is (organisation, teams, matrix, contracts) changes rarely:
    it is kept a few seconds per session or token. Whether the session or token may still
    be used is read from the database on every request, so an ending or a suspension takes
    effect on the very next one."""

    def __init__(self, seconds: float = 5.0, size: int = 10_000) -> None:
        self.seconds, self.size = seconds, size
        self._kept: dict[bytes, tuple[float, Actor]] = {}

    def get(self, key: bytes, build: Callable[[], Actor]) -> Actor:
        moment = time.monotonic()
        known = self._kept.get(key)
        if known is not None and known[0] > moment:
            return known[1]
        actor = build()
        if len(self._kept) >= self.size:
            self._kept.clear()
        self._kept[key] = (moment + self.seconds, actor)
        return actor


def _decided(
    uow: UnitOfWork, actor: Actor, kind: EventKind, decision: Decision, *resources: str
) -> None:
    """Go on if allowed; else journal the denial, commit it and raise AccessDenied."""
    if decision.allowed:
        return
    _journal(uow, actor, kind, decision, Outcome.DENIED, *resources)
    uow.commit()
    raise access.AccessDenied(decision.rule, decision.explanation)


def _with(decision: Decision, **facts: str) -> Decision:
    return replace(decision, facts={**decision.facts, **facts})


def _change(
    uow: UnitOfWork,
    actor: Actor,
    kind: EventKind,
    decision: Decision,
    change: str,
    resource: str,
    act: Callable[[], object],
    also: tuple[str, ...] = (),
) -> None:
    """Go on only if allowed (else journal the denial and raise AccessDenied); make the
    change, journal it with the fact `change` (naming `resource` and `also`), commit."""
    decision = _with(decision, change=change)
    _decided(uow, actor, kind, decision, resource, *also)
    act()
    _journal(uow, actor, kind, decision, Outcome.SUCCESS, resource, *also)
    uow.commit()


def _revoked(done: bool, what: str) -> None:
    if not done:
        raise ClientError(f"The {what} was already revoked.")
