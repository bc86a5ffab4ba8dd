"""A signed-in account's own business: the per-request check of its session, its
sessions, its password (changed, or reset with a single-use link)."""

from __future__ import annotations

import base64
import time
from datetime import datetime

from coffre import identity, notify
from coffre.access import Decision
from coffre.identity import Actor, ActorKind, passwords, resets, throttle
from coffre.identity.passkeys import Passkey, list_passkeys
from coffre.identity.sessions import (
    Session,
    active_sessions,
    check_session,
    end_all_sessions,
    end_session,
    rotate_session,
    touch_due,
    touch_session,
)
from coffre.journal import EventKind, Outcome
from coffre.notify import NotificationKind, Recipient
from coffre.signin.common import (
    ActorCache,
    Context,
    Needs,
    SecondFactorRequired,
    SignInRefused,
    Step,
    _account,
    _actor,
    _check_lock,
    _journal,
    _now,
    _refuse,
    _signed_in,
    _tell,
)
from coffre.store import UnitOfWork

_actors = ActorCache()


def _cached_actor(uow: UnitOfWork, session: Session) -> Actor:
    return _actors.get(
        session.id_hash,
        lambda: identity.actor_for(
            uow, session.account_id, source=session.source, session_id=session.reference
        ),
    )


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


def my_passkeys(uow: UnitOfWork, token: str, now: datetime | None = None) -> list[Passkey]:
    """The signed-in account's passkeys, oldest first: names and dates, never a key."""
    now = _now(now)
    with uow:
        session = _signed_in(uow, token, now)
        found = list_passkeys(uow, session.account_id)
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
    """Change the signed-in account's password (the current one re-authenticates, under
    the same failure limits as signing in); other sessions end, this one is renewed, the
    account holder is told."""
    now = _now(now)
    with uow:
        session = _signed_in(uow, token, now)
        account = _account(uow, session)
        # A held session must not guess the current password faster than a sign-in could.
        _check_lock(
            uow,
            _actor(account, session.source, session),
            [throttle.username_key(ctx.throttle_key, account.username)],
            now,
        )
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
