"""Sign-in steps sent at once on PostgreSQL, where transactions run side by side: each is
judged on what the one before it committed (SQLite's writers take turns anyway)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from coffre import identity, signin
from coffre.identity import NewAccount, OrganisationKind
from coffre.identity.sessions import (
    SessionEnded,
    check_session,
    open_session,
    rotate_session,
    set_challenge,
    take_challenge,
)
from coffre.signin import SignInRefused
from sidebyside import at_once, in_thread, waiting_for_a_lock

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
PASSWORD = "violet kettle orbit 1968"
IP = "198.51.100.7"


def _account(coffre) -> str:  # type: ignore[no-untyped-def]
    with coffre.uow() as uow:
        org = identity.create_organisation(
            uow, "Clinique du Parc", OrganisationKind.CARE_PROVIDER, "FR"
        ).id
        [created] = identity.create_accounts(
            uow, [NewAccount(org, "dr.martin", PASSWORD, "practitioner", "Dr Martin", "physician")]
        )
        uow.commit()
    return created


@pytest.fixture
def account(coffre) -> str:  # type: ignore[no-untyped-def]
    return _account(coffre)


@pytest.fixture
def postgres_account(postgres_coffre):  # type: ignore[no-untyped-def]
    return postgres_coffre, _account(postgres_coffre)


def _session(coffre, account: str, now: datetime):  # type: ignore[no-untyped-def]
    with coffre.uow() as uow:
        token, session = open_session(
            uow,
            account,
            IP,
            now,
            idle=timedelta(minutes=30),
            absolute=timedelta(hours=8),
            mfa=False,
        )
        uow.commit()
    return token, session


def test_wrong_passwords_at_once_get_the_free_tries_and_no_more(coffre, account):
    """Eight wrong passwords for one username at the same moment: three free failures, the
    fourth sets the lock, the other four are refused as locked, not checked."""
    ctx = coffre.signin()

    def guess() -> str:
        try:
            signin.sign_in(coffre.uow(), ctx, "dr.martin", "a wrong guess", IP, T0)
        except SignInRefused as refused:
            return str(refused).split(";")[0].split(".")[0]
        return "signed in"

    assert at_once(8, guess) == ["Too many attempts"] * 4 + ["Wrong username or password"] * 4


def test_a_session_renewed_twice_at_once_becomes_one_session(postgres_account):
    coffre, account = postgres_account
    token, session = _session(coffre, account, T0)
    outcome: dict[str, object] = {}

    def second() -> None:
        try:
            with coffre.uow() as uow:
                rotate_session(uow, session, T0, mfa=True)
                uow.commit()
            outcome["second"] = "renewed"
        except SessionEnded:
            outcome["second"] = "ended"

    with coffre.uow() as uow:
        new_token, _ = rotate_session(uow, session, T0, mfa=True)
        thread = in_thread(second)
        assert waiting_for_a_lock(coffre.engine)
        uow.commit()
    thread.join(10)
    assert outcome == {"second": "ended"}
    with coffre.reader() as uow:
        assert check_session(uow, new_token, T0, touch=False).account_id == account
        with pytest.raises(SessionEnded):
            check_session(uow, token, T0, touch=False)


def test_a_passkey_challenge_is_taken_once_by_requests_at_once(postgres_account):
    coffre, account = postgres_account
    _, session = _session(coffre, account, T0)
    with coffre.uow() as uow:
        set_challenge(uow, session, b"challenge-1", T0)
        uow.commit()
    taken: dict[str, object] = {}

    def second() -> None:
        with coffre.uow() as uow:
            taken["second"] = take_challenge(uow, session, T0)
            uow.commit()

    with coffre.uow() as uow:
        taken["first"] = take_challenge(uow, session, T0)
        thread = in_thread(second)
        assert waiting_for_a_lock(coffre.engine)
        uow.commit()
    thread.join(10)
    assert taken == {"first": b"challenge-1", "second": None}
