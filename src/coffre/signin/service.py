"""Signing in, second factors, sessions and suspensions, each journaled.

A stolen password alone opens nothing: a professional's (or staff member's) session reaches
patient data only once a second factor was given, and an account without one can only set
one up. Failures answer the same whether the account exists or not, in the same time, and
are counted per typed username and per source (`identity.throttle`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from coffre import access, identity, journal, notify
from coffre.access import Decision, Purpose
from coffre.crypto import SecretBox
from coffre.identity import Actor, ActorKind, passkeys, passwords, resets, throttle
from coffre.identity.errors import IdentityError, PasskeyError
from coffre.identity.mfa import (
    enable_totp,
    has_second_factor,
    new_recovery_codes,
    use_recovery_code,
    verify_totp,
)
from coffre.identity.sessions import (
    Session,
    active_sessions,
    check_session,
    end_all_sessions,
    end_session,
    open_session,
    rotate_session,
    set_challenge,
    take_challenge,
    touch_due,
    touch_session,
)
from coffre.journal import Entry, EventKind, Outcome
from coffre.notify import NotificationKind, Recipient
from coffre.store import UnitOfWork

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


def _needs_second_factor(account: identity.Account) -> bool:
    """Everyone but patients must use a second factor."""
    return account.role != "patient"


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
    """Refuse (journaled, committed) while any of these keys is locked."""
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


def sign_in(
    uow: UnitOfWork,
    ctx: Context,
    username: str,
    password: str,
    source: str,
    now: datetime | None = None,
) -> Step:
    """Check a username and password; open a session that may still need a second factor.
    Raises SignInRefused (the same answer, in the same time, for a wrong password and an
    unknown username; a lock says so, whoever the username names)."""
    now = _now(now)
    keys = [
        throttle.username_key(ctx.throttle_key, username),
        throttle.source_key(ctx.throttle_key, source),
    ]
    # Read, then verify the hash outside any transaction: the write lock is taken only
    # for the few statements that follow, not for the ~40 ms of argon2id.
    with uow.reading() as reader:
        try:
            account: identity.Account | None = identity.find_account(reader, username.strip())
        except identity.AccountNotFound:
            account = None
        if account is not None and account.username != username.strip():
            account = None  # an account is signed in to by its username, not its id
        locked = throttle.locked_until(reader, keys, now) is not None
        stored = identity.password_hash_of(reader, account.id) if account else None
    actor = (
        _actor(account, source)
        if account
        else Actor(kind=ActorKind.ACCOUNT, id=f"unknown:{keys[0][:8].hex()}", source=source[:120])
    )
    # A lock costs no hash: it applies to whatever was typed, so answering it faster tells
    # nothing about which accounts exist. Unknown usernames verify a dummy hash: a wrong
    # password and an unknown username take the same time.
    matched, rehashed = (False, None) if locked else passwords.verify_password(stored, password)
    with uow:
        _check_lock(uow, actor, keys, now)
        if account is None or not matched:
            raise _refuse(uow, ctx, actor, username, now, "sign-in-failed", "wrong password")
        if identity.is_suspended(uow, account.id):
            raise _refuse(uow, ctx, actor, username, now, "account-suspended", "suspended")
        throttle.clear(uow, keys[0])
        if rehashed is not None:
            identity.set_password_hash(uow, account.id, rehashed, now, changed=False)
        has_factor = has_second_factor(uow, account.id)
        if has_factor:
            needs = Needs.SECOND_FACTOR
        elif _needs_second_factor(account):
            needs = Needs.SECOND_FACTOR_SETUP
        else:
            needs = Needs.NOTHING
        idle = ctx.policy.idle_patient if account.role == "patient" else ctx.policy.idle
        token, session = open_session(
            uow,
            account.id,
            source,
            now,
            idle=idle,
            absolute=ctx.policy.absolute,
            mfa=needs is Needs.NOTHING,
        )
        _journal(
            uow,
            _actor(account, source, session),
            EventKind.LOGIN,
            Decision(True, "sign-in", f"password accepted; next: {needs.value}"),
            Outcome.SUCCESS,
            f"session:{session.reference}",
        )
        uow.commit()
    return Step(token, needs, session)


def _signed_in(uow: UnitOfWork, token: str, now: datetime) -> Session:
    """The session, if it completed signing in (second factor included where needed)."""
    session = check_session(uow, token, now)
    if not session.mfa:
        raise SecondFactorRequired("Finish signing in with your second factor.")
    return session


def _account(uow: UnitOfWork, session: Session) -> identity.Account:
    return identity.find_account(uow, session.account_id)


def second_factor(
    uow: UnitOfWork,
    ctx: Context,
    token: str,
    *,
    code: str | None = None,
    recovery_code: str | None = None,
    passkey: str | dict[str, Any] | None = None,
    relying_party: RelyingParty | None = None,
    now: datetime | None = None,
) -> Step:
    """Complete signing in with a TOTP code (each accepted once), a passkey assertion (over
    the challenge of `passkey_options`) or a recovery code; the session id changes. Raises
    SignInRefused or SessionEnded."""
    now = _now(now)
    with uow:
        session = check_session(uow, token, now)
        account = _account(uow, session)
        actor = _actor(account, session.source, session)
        keys = [
            throttle.username_key(ctx.throttle_key, account.username),
            throttle.source_key(ctx.throttle_key, session.source),
        ]
        _check_lock(uow, actor, keys, now)
        if recovery_code is not None:
            accepted, how = use_recovery_code(uow, account.id, recovery_code, now), "recovery"
        elif passkey is not None:
            accepted, how = _passkey_accepted(uow, session, passkey, relying_party, now), "passkey"
        else:
            accepted, how = verify_totp(uow, ctx.box, account.id, code or "", now), "totp"
        if not accepted:
            for key, kind in zip(keys, ("username", "source"), strict=True):
                throttle.record_failure(uow, key, kind, now, ctx.policy.limits)
            _journal(
                uow,
                actor,
                EventKind.LOGIN,
                Decision(False, "second-factor-failed", f"{how} code refused"),
                Outcome.DENIED,
                f"session:{session.reference}",
            )
            uow.commit()
            raise SignInRefused("The code is not valid; codes are accepted once.")
        new_token, renewed = rotate_session(uow, session, now, mfa=True)
        _journal(
            uow,
            _actor(account, session.source, renewed),
            EventKind.LOGIN,
            Decision(True, "second-factor", f"{how} code accepted"),
            Outcome.SUCCESS,
            f"session:{renewed.reference}",
        )
        uow.commit()
    return Step(new_token, Needs.NOTHING, renewed)


@dataclass(frozen=True)
class RelyingParty:
    """Who the browser talks to, for WebAuthn: the site's domain and its origin."""

    id: str = "localhost"
    origin: str = "http://localhost:8000"
    name: str = "Coffre"


def _passkey_accepted(
    uow: UnitOfWork,
    session: Session,
    credential: str | dict[str, Any],
    relying_party: RelyingParty | None,
    now: datetime,
) -> bool:
    party = relying_party or RelyingParty()
    challenge = take_challenge(uow, session, now)
    if challenge is None:
        return False
    try:
        passkeys.verify_authentication(
            uow,
            session.account_id,
            credential,
            challenge=challenge,
            rp_id=party.id,
            origin=party.origin,
            now=now,
        )
    except PasskeyError:
        return False
    return True


def passkey_options(
    uow: UnitOfWork,
    token: str,
    relying_party: RelyingParty | None = None,
    now: datetime | None = None,
) -> str:
    """The options (JSON) for `navigator.credentials.get()` with this session's passkeys;
    the challenge is kept with the session for one use."""
    now, party = _now(now), relying_party or RelyingParty()
    with uow:
        session = check_session(uow, token, now)
        try:
            options, challenge = passkeys.authentication_options(
                uow, session.account_id, rp_id=party.id
            )
        except PasskeyError as exc:
            raise SignInRefused(exc.message) from None
        set_challenge(uow, session, challenge, now)
        uow.commit()
    return options


def passkey_registration_options(
    uow: UnitOfWork,
    ctx: Context,
    token: str,
    relying_party: RelyingParty | None = None,
    now: datetime | None = None,
) -> str:
    """The options (JSON) for `navigator.credentials.create()`; same conditions as
    `set_up_totp`."""
    now, party = _now(now), relying_party or RelyingParty()
    with uow:
        session = _may_change_factors(uow, ctx, token, now)
        options, challenge = passkeys.registration_options(
            uow, session.account_id, rp_id=party.id, rp_name=party.name
        )
        set_challenge(uow, session, challenge, now)
        uow.commit()
    return options


def add_passkey(
    uow: UnitOfWork,
    ctx: Context,
    token: str,
    credential: str | dict[str, Any],
    name: str,
    relying_party: RelyingParty | None = None,
    now: datetime | None = None,
) -> tuple[Step, list[str]]:
    """Register a passkey (the answer to `passkey_registration_options`); return the
    renewed session and, when it is the account's first second factor, recovery codes."""
    now, party = _now(now), relying_party or RelyingParty()
    with uow:
        session = _may_change_factors(uow, ctx, token, now)
        account = _account(uow, session)
        first = not has_second_factor(uow, account.id)
        challenge = take_challenge(uow, session, now)
        try:
            if challenge is None:
                raise PasskeyError("Ask for new options: the challenge is missing or expired.")
            passkeys.finish_registration(
                uow,
                account.id,
                credential,
                challenge=challenge,
                rp_id=party.id,
                origin=party.origin,
                name=name,
                now=now,
            )
        except PasskeyError as exc:
            uow.commit()  # the challenge is spent
            raise SignInRefused(exc.message) from None
        codes = new_recovery_codes(uow, account.id, now) if first else []
        step = _factor_changed(uow, session, account, "factor:passkey", now)
        uow.commit()
    return step, codes


def _may_change_factors(uow: UnitOfWork, ctx: Context, token: str, now: datetime) -> Session:
    """The session, if it may set up a second factor: one still setting up its first, or
    one that gave its second factor and re-authenticated recently."""
    session = check_session(uow, token, now)
    if session.mfa and now - session.reauthenticated_at > ctx.policy.recent:
        raise SignInRefused("Sign in again to change your second factor.")
    if not session.mfa and has_second_factor(uow, session.account_id):
        raise SecondFactorRequired("Finish signing in with your second factor.")
    return session


def _factor_changed(
    uow: UnitOfWork, session: Session, account: identity.Account, what: str, now: datetime
) -> Step:
    """Renew the session (a change of privilege), journal the change, tell the holder."""
    new_token, renewed = rotate_session(uow, session, now, mfa=True)
    _journal(
        uow,
        _actor(account, session.source, renewed),
        EventKind.MFA_UPDATE,
        Decision(True, "own-second-factor", "an account holder sets up their own second factor"),
        Outcome.SUCCESS,
        what,
    )
    _tell(uow, account, NotificationKind.SECOND_FACTOR_CHANGED, now)
    return Step(new_token, Needs.NOTHING, renewed)


def set_up_totp(
    uow: UnitOfWork,
    ctx: Context,
    token: str,
    secret: str,
    code: str,
    now: datetime | None = None,
) -> tuple[Step, list[str]]:
    """Set up (or replace) the account's TOTP app, proven by a current code; return the
    renewed session and new recovery codes (shown once). A session that already gave a
    second factor must have re-authenticated recently; the account holder is told."""
    now = _now(now)
    with uow:
        session = _may_change_factors(uow, ctx, token, now)
        account = _account(uow, session)
        try:
            enable_totp(uow, ctx.box, account.id, secret, code, now)
        except IdentityError as exc:
            raise SignInRefused(exc.message) from None
        codes = new_recovery_codes(uow, account.id, now)
        step = _factor_changed(uow, session, account, "factor:totp", now)
        uow.commit()
    return step, codes


def _tell(
    uow: UnitOfWork, account: identity.Account, kind: NotificationKind, now: datetime
) -> None:
    notify.enqueue(uow, Recipient.ACCOUNT, account.id, kind, {"at": now.isoformat()})


# Who an account is (organisation, teams, matrix, contracts) changes rarely: it is kept a
# few seconds per session. Whether the session is open and the account not suspended is
# read from the database on every request, so those take effect on the very next one.
ACTOR_CACHE_SECONDS = 5.0
_ACTOR_CACHE_SIZE = 10_000
_actors: dict[bytes, tuple[float, Actor]] = {}


def _cached_actor(uow: UnitOfWork, session: Session) -> Actor:
    moment = time.monotonic()
    known = _actors.get(session.id_hash)
    if known is not None and known[0] > moment:
        return known[1]
    actor = identity.actor_for(
        uow, session.account_id, source=session.source, session_id=session.reference
    )
    if len(_actors) >= _ACTOR_CACHE_SIZE:
        _actors.clear()
    _actors[session.id_hash] = (moment + ACTOR_CACHE_SECONDS, actor)
    return actor


def session_actor(uow: UnitOfWork, ctx: Context, token: str, now: datetime | None = None) -> Actor:
    """The actor a request acts as, checked on every request: the session is open, not
    timed out, its account not suspended, and the second factor given where it must be.
    Raises SessionEnded or SecondFactorRequired. Reads without the write lock; writes only
    when the session's last use is due to be recorded (every 30 s at most)."""
    now = _now(now)
    with uow.reading() as reader:
        session = check_session(reader, token, now, touch=False)
        if not session.mfa:
            raise SecondFactorRequired("Finish signing in with your second factor.")
        actor = _cached_actor(reader, session)
    if touch_due(session, now):
        with uow:
            touch_session(uow, session, now)
            uow.commit()
    return actor


def sign_out(uow: UnitOfWork, token: str, now: datetime | None = None) -> None:
    """End this session."""
    now = _now(now)
    with uow:
        session = check_session(uow, token, now)
        account = _account(uow, session)
        end_session(uow, session.id_hash, now, account.id, "signed out")
        _journal(
            uow,
            _actor(account, session.source, session),
            EventKind.LOGOUT,
            Decision(True, "sign-out", "an account holder ends their own session"),
            Outcome.SUCCESS,
            f"session:{session.reference}",
        )
        uow.commit()


def my_sessions(uow: UnitOfWork, token: str, now: datetime | None = None) -> list[Session]:
    """The signed-in account's open sessions, newest first."""
    now = _now(now)
    with uow:
        session = _signed_in(uow, token, now)
        found = active_sessions(uow, session.account_id, now)
        uow.commit()
    return found


def end_other_sessions(uow: UnitOfWork, token: str, now: datetime | None = None) -> int:
    """End every session of the signed-in account but this one; return how many."""
    now = _now(now)
    with uow:
        session = _signed_in(uow, token, now)
        account = _account(uow, session)
        count = end_all_sessions(
            uow, account.id, now, account.id, "ended by the account holder", keep=session.id_hash
        )
        _journal(
            uow,
            _actor(account, session.source, session),
            EventKind.SESSION_END,
            Decision(True, "own-sessions", "an account holder ends their other sessions"),
            Outcome.SUCCESS,
            f"sessions:{count}",
        )
        uow.commit()
    return count


def change_password(
    uow: UnitOfWork,
    ctx: Context,
    token: str,
    current: str,
    new: str,
    now: datetime | None = None,
) -> Step:
    """Change the signed-in account's password (the current one re-authenticates); other
    sessions end, this one is renewed, the account holder is told."""
    now = _now(now)
    with uow:
        session = _signed_in(uow, token, now)
        account = _account(uow, session)
        matched, _ = passwords.verify_password(identity.password_hash_of(uow, account.id), current)
        if not matched:
            raise _refuse(
                uow,
                ctx,
                _actor(account, session.source, session),
                account.username,
                now,
                "password-change-failed",
                "the current password was wrong",
            )
        passwords.check_new_password(
            new,
            patient=account.role == "patient",
            context=[account.username, account.display_name],
        )
        identity.set_password_hash(uow, account.id, passwords.hash_password(new), now)
        end_all_sessions(uow, account.id, now, account.id, "password changed", keep=session.id_hash)
        new_token, renewed = rotate_session(uow, session, now)
        _journal(
            uow,
            _actor(account, session.source, renewed),
            EventKind.PASSWORD_UPDATE,
            Decision(True, "own-password", "an account holder changes their own password"),
            Outcome.SUCCESS,
        )
        _tell(uow, account, NotificationKind.PASSWORD_CHANGED, now)
        uow.commit()
    return Step(new_token, Needs.NOTHING, renewed)


def suspend_account(
    uow: UnitOfWork,
    actor: Actor,
    account_name: str,
    reason: str,
    purpose: Purpose = Purpose.SECURITY,
    now: datetime | None = None,
) -> int:
    """Suspend an account: its sessions end and it signs nothing in until resumed; takes
    effect on the very next request. Return how many sessions ended."""
    now = _now(now)
    with uow:
        account = identity.find_account(uow, account_name)
        decision = access.decide_suspension(actor, account.organisation_id, purpose)
        kind = EventKind.ACCOUNT_SUSPEND
        if not decision.allowed:
            _journal(uow, actor, kind, decision, Outcome.DENIED, f"account:{account.id}")
            uow.commit()
            raise access.AccessDenied(decision.rule, decision.explanation)
        identity.set_suspended(uow, account.id, now, actor.id, reason)
        ended = end_all_sessions(uow, account.id, now, actor.id, f"suspended: {reason}")
        _journal(uow, actor, kind, decision, Outcome.SUCCESS, f"account:{account.id}")
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
) -> None:
    """End one session, named by its journal reference (as alerts name it)."""
    now = _now(now)
    with uow:
        found = identity.session_by_reference(uow, reference)
        if found is None:
            raise IdentityError(f"There is no open session {reference}.")
        session, organisation = found
        decision = access.decide_suspension(actor, organisation, purpose)
        kind = EventKind.SESSION_END
        if not decision.allowed:
            _journal(uow, actor, kind, decision, Outcome.DENIED, f"session:{reference}")
            uow.commit()
            raise access.AccessDenied(decision.rule, decision.explanation)
        end_session(uow, session.id_hash, now, actor.id, f"suspended: {reason}")
        _journal(uow, actor, kind, decision, Outcome.SUCCESS, f"session:{reference}")
        holder = identity.find_account(uow, session.account_id)
        _tell(uow, holder, NotificationKind.SESSION_ENDED, now)
        uow.commit()


RESET_FLOOR = 0.3  # seconds every reset request takes, whether the account exists or not


def request_password_reset(
    uow: UnitOfWork, ctx: Context, username: str, source: str, now: datetime | None = None
) -> None:
    """Send a single-use reset link (valid 30 minutes) to the account's address, if there
    is such an account with an address and not suspended. The answer is the same, and takes
    the same time, either way; requests count against the username and source limits."""
    started = time.monotonic()
    now = _now(now)
    keys = [
        throttle.username_key(ctx.throttle_key, username),
        throttle.source_key(ctx.throttle_key, source),
    ]
    with uow:
        try:
            account: identity.Account | None = identity.find_account(uow, username.strip())
        except identity.AccountNotFound:
            account = None
        if account is not None and account.username != username.strip():
            account = None
        actor = (
            _actor(account, source)
            if account
            else Actor(
                kind=ActorKind.ACCOUNT, id=f"unknown:{keys[0][:8].hex()}", source=source[:120]
            )
        )
        locked = throttle.locked_until(uow, keys, now) is not None
        # A reset request counts like a failure: it cannot be used to probe faster.
        for key, kind in zip(keys, ("username", "source"), strict=True):
            throttle.record_failure(uow, key, kind, now, ctx.policy.limits)
        sendable = (
            not locked
            and account is not None
            and not identity.is_suspended(uow, account.id)
            and resets.email_of(uow, ctx.box, account.id) is not None
        )
        if sendable and account is not None:
            token = resets.new_reset(uow, account.id, now)
            sealed = base64.urlsafe_b64encode(ctx.box.seal(token.encode(), f"reset:{account.id}"))
            notify.enqueue(
                uow,
                Recipient.ACCOUNT,
                account.id,
                NotificationKind.PASSWORD_RESET,
                {"at": now.isoformat(), "link": "sealed:" + sealed.decode()},
            )
        _journal(
            uow,
            actor,
            EventKind.PASSWORD_UPDATE,
            Decision(
                sendable,
                "password-reset-request",
                "a reset link was sent" if sendable else "no reset link was sent",
            ),
            Outcome.SUCCESS if sendable else Outcome.DENIED,
        )
        uow.commit()
    time.sleep(max(0.0, RESET_FLOOR - (time.monotonic() - started)))


def reset_password(
    uow: UnitOfWork, ctx: Context, token: str, new: str, now: datetime | None = None
) -> None:
    """Choose a new password with a reset token (once, within 30 minutes): every session of
    the account ends, the holder is told. Raises SignInRefused or WeakPassword."""
    now = _now(now)
    with uow:
        account_id = resets.use_reset(uow, token, now)
        if account_id is None:
            raise SignInRefused("This reset link is not valid any more; ask for a new one.")
        account = identity.find_account(uow, account_id)
        passwords.check_new_password(
            new, patient=account.role == "patient", context=[account.username, account.display_name]
        )
        identity.set_password_hash(uow, account.id, passwords.hash_password(new), now)
        end_all_sessions(uow, account.id, now, account.id, "password reset")
        throttle.clear(uow, throttle.username_key(ctx.throttle_key, account.username))
        _journal(
            uow,
            _actor(account, "reset"),
            EventKind.PASSWORD_UPDATE,
            Decision(True, "password-reset", "a single-use reset link was used"),
            Outcome.SUCCESS,
        )
        _tell(uow, account, NotificationKind.PASSWORD_CHANGED, now)
        uow.commit()
