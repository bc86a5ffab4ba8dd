"""Signing in: the password, then a second factor (TOTP, passkey or recovery code), and
setting one up.

A stolen password alone opens nothing: a professional's (or staff member's) session reaches
patient data only once a second factor was given, and an account without one can only set
one up. Failures answer the same whether the account exists or not, in the same time, and
are counted per typed username and per source (`identity.throttle`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from coffre import identity
from coffre.access import Decision
from coffre.identity import Actor, ActorKind, passkeys, passwords, throttle
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
    check_session,
    open_session,
    rotate_session,
    set_challenge,
    take_challenge,
)
from coffre.journal import EventKind, Outcome
from coffre.notify import NotificationKind
from coffre.signin.common import (
    Context,
    Needs,
    RelyingParty,
    SecondFactorRequired,
    SignInRefused,
    Step,
    _account,
    _actor,
    _check_lock,
    _journal,
    _now,
    _refuse,
    _tell,
)
from coffre.store import UnitOfWork


def _needs_second_factor(account: identity.Account) -> bool:
    """Everyone but patients must use a second factor."""
    return account.role != "patient"


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
