"""Signing in, on SQLite and PostgreSQL: a stolen password alone opens nothing, failures tell
nothing about which accounts exist, sessions end when they must, suspensions bite at once."""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from coffre import identity, notify, signin
from coffre.access import AccessDenied
from coffre.identity import NewAccount, OrganisationKind, local_operator, mfa, throttle
from coffre.notify import NotificationKind, Recipient
from coffre.signin import Needs, SecondFactorRequired, SessionEnded, SignInRefused
from factories import journal_records

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
PASSWORD = "violet kettle orbit 1968"
IP = "198.51.100.7"


@pytest.fixture
def org(coffre) -> str:  # type: ignore[no-untyped-def]
    with coffre.uow() as uow:
        org_id = identity.create_organisation(
            uow, "Clinique du Parc", OrganisationKind.CARE_PROVIDER, "FR"
        ).id
        identity.create_accounts(
            uow,
            [
                NewAccount(
                    org_id, "dr.martin", PASSWORD, "practitioner", "Dr Anne Martin", "physician"
                ),
                NewAccount(org_id, "secu", PASSWORD, "security-officer", "Security officer"),
                NewAccount(org_id, "patient.one", PASSWORD, "patient", "Patient one"),
            ],
        )
        uow.commit()
    return org_id


@pytest.fixture
def ctx(coffre) -> signin.Context:  # type: ignore[no-untyped-def]
    return coffre.signin()


def code_at(secret: str, moment: datetime) -> str:
    return pyotp.TOTP(secret).at(moment)


def enrolled(coffre, ctx, now=T0):  # type: ignore[no-untyped-def]
    """Sign dr.martin in, set up TOTP; return (secret, step, recovery codes)."""
    step = signin.sign_in(coffre.uow(), ctx, "dr.martin", PASSWORD, IP, now)
    assert step.needs is Needs.SECOND_FACTOR_SETUP
    secret = mfa.new_totp_secret()
    done, codes = signin.set_up_totp(
        coffre.uow(), ctx, step.token, secret, code_at(secret, now), now
    )
    return secret, done, codes


def again(coffre, ctx, secret, now, source=IP):  # type: ignore[no-untyped-def]
    """Sign dr.martin in once more, with the TOTP code of `now` (a later step than any
    code used before)."""
    step = signin.sign_in(coffre.uow(), ctx, "dr.martin", PASSWORD, source, now)
    return signin.second_factor(coffre.uow(), ctx, step.token, code=code_at(secret, now), now=now)


def test_a_professional_reaches_nothing_before_setting_up_a_second_factor(coffre, ctx, org):
    step = signin.sign_in(coffre.uow(), ctx, "dr.martin", PASSWORD, IP, T0)
    with pytest.raises(SecondFactorRequired):
        signin.session_actor(coffre.uow(), ctx, step.token, T0)
    secret = mfa.new_totp_secret()
    with pytest.raises(SignInRefused, match="does not match"):
        signin.set_up_totp(coffre.uow(), ctx, step.token, secret, "000000", T0)
    done, codes = signin.set_up_totp(coffre.uow(), ctx, step.token, secret, code_at(secret, T0), T0)
    assert len(codes) == 10 and len(set(codes)) == 10
    actor = signin.session_actor(coffre.uow(), ctx, done.token, T0)
    assert (actor.id, actor.profession, actor.session_id) == (
        done.session.account_id,
        "physician",
        done.session.reference,
    )
    with pytest.raises(SessionEnded):  # the session id changed when the factor was set up
        signin.session_actor(coffre.uow(), ctx, step.token, T0)
    with coffre.reader() as uow:
        [told] = notify.list_notifications(uow, Recipient.ACCOUNT)
    assert told.kind is NotificationKind.SECOND_FACTOR_CHANGED


def test_a_totp_code_is_accepted_once(coffre, ctx, org):
    secret, _, _ = enrolled(coffre, ctx)
    step = signin.sign_in(coffre.uow(), ctx, "dr.martin", PASSWORD, IP, T0 + timedelta(seconds=5))
    assert step.needs is Needs.SECOND_FACTOR
    replayed = code_at(secret, T0)  # the code used to set the app up, still current
    with pytest.raises(SignInRefused, match="accepted once"):
        signin.second_factor(
            coffre.uow(), ctx, step.token, code=replayed, now=T0 + timedelta(seconds=5)
        )
    later = T0 + timedelta(seconds=31)
    done = signin.second_factor(
        coffre.uow(), ctx, step.token, code=code_at(secret, later), now=later
    )
    assert signin.session_actor(coffre.uow(), ctx, done.token, later).id == done.session.account_id
    again = signin.sign_in(coffre.uow(), ctx, "dr.martin", PASSWORD, IP, later)
    with pytest.raises(SignInRefused):
        signin.second_factor(coffre.uow(), ctx, again.token, code=code_at(secret, later), now=later)


def test_a_recovery_code_works_once(coffre, ctx, org):
    _, _, codes = enrolled(coffre, ctx)
    first = signin.sign_in(coffre.uow(), ctx, "dr.martin", PASSWORD, IP, T0)
    signin.second_factor(coffre.uow(), ctx, first.token, recovery_code=codes[0].lower(), now=T0)
    second = signin.sign_in(coffre.uow(), ctx, "dr.martin", PASSWORD, IP, T0)
    with pytest.raises(SignInRefused):
        signin.second_factor(coffre.uow(), ctx, second.token, recovery_code=codes[0], now=T0)


def test_a_patient_without_a_second_factor_signs_in_with_the_password(coffre, ctx, org):
    step = signin.sign_in(coffre.uow(), ctx, "patient.one", PASSWORD, IP, T0)
    assert step.needs is Needs.NOTHING
    assert signin.session_actor(coffre.uow(), ctx, step.token, T0).role == "patient"


def test_sessions_end_when_idle_and_at_their_absolute_timeout(coffre, ctx, org):
    secret, done, _ = enrolled(coffre, ctx)
    token = done.token
    assert signin.session_actor(coffre.uow(), ctx, token, T0 + timedelta(minutes=14))
    with pytest.raises(SessionEnded, match="timed out"):
        signin.session_actor(coffre.uow(), ctx, token, T0 + timedelta(minutes=30))
    with pytest.raises(SessionEnded, match="timed out"):  # and it stays so
        signin.session_actor(coffre.uow(), ctx, token, T0 + timedelta(minutes=31))
    active = again(coffre, ctx, secret, T0 + timedelta(hours=1))
    moment = T0 + timedelta(hours=1)
    while moment < T0 + timedelta(hours=12, minutes=50):
        moment += timedelta(minutes=10)
        if moment >= T0 + timedelta(hours=13):
            with pytest.raises(SessionEnded):
                signin.session_actor(coffre.uow(), ctx, active.token, moment)
            break
        signin.session_actor(coffre.uow(), ctx, active.token, moment)
    with pytest.raises(SessionEnded):
        signin.session_actor(coffre.uow(), ctx, active.token, T0 + timedelta(hours=13, minutes=1))


def test_wrong_passwords_and_unknown_usernames_get_the_same_answer(coffre, ctx, org):
    for username in ("dr.martin", "nobody.here"):
        with pytest.raises(SignInRefused) as refused:
            signin.sign_in(coffre.uow(), ctx, username, "wrong horse battery", IP, T0)
        assert str(refused.value) == "Wrong username or password."
    entries = journal_records(coffre)
    assert [e.outcome for e in entries[-2:]] == ["denied", "denied"]
    assert entries[-1].actor_id.startswith("unknown:")
    with coffre.engine.connect() as conn:
        stored = b"".join(
            bytes(r[0]) for r in conn.exec_driver_sql("SELECT entry FROM journal_entries")
        )
    assert b"nobody.here" not in stored and b"wrong horse" not in stored


def test_failures_lock_a_username_briefly_whether_or_not_it_exists(coffre, ctx, org):
    for username in ("dr.martin", "nobody.here"):
        for attempt in range(4):
            with pytest.raises(SignInRefused, match="Wrong"):
                signin.sign_in(coffre.uow(), ctx, username, f"guess {attempt}", IP, T0)
        with pytest.raises(SignInRefused, match="Too many attempts; try again in 1 minutes"):
            signin.sign_in(coffre.uow(), ctx, username, PASSWORD, IP, T0 + timedelta(seconds=30))
    step = signin.sign_in(
        coffre.uow(), ctx, "dr.martin", PASSWORD, "203.0.113.9", T0 + timedelta(minutes=2)
    )
    assert step.needs is Needs.SECOND_FACTOR_SETUP


def test_an_attacker_gets_a_handful_of_tries_an_hour_and_the_owner_is_never_locked_long(
    coffre, ctx, org
):
    moment, tries, longest = T0, 0, timedelta(0)
    while moment < T0 + timedelta(hours=1):
        try:
            signin.sign_in(
                coffre.uow(), ctx, "dr.martin", "guess", f"203.0.113.{tries % 200}", moment
            )
        except SignInRefused as refused:
            if str(refused).startswith("Too many"):
                moment += timedelta(seconds=20)
                continue
            tries += 1
        with coffre.reader() as uow:
            until = throttle.locked_until(
                uow, [throttle.username_key(ctx.throttle_key, "dr.martin")], moment
            )
        longest = max(longest, (until - moment) if until else timedelta(0))
        moment += timedelta(seconds=20)
    assert tries <= 12
    assert longest <= timedelta(minutes=15)


def test_one_source_failing_on_many_usernames_is_locked(coffre, ctx, org):
    for n in range(21):
        with pytest.raises(SignInRefused, match="Wrong"):
            signin.sign_in(coffre.uow(), ctx, f"member{n}", "123456", IP, T0)
    with pytest.raises(SignInRefused, match="Too many"):
        signin.sign_in(coffre.uow(), ctx, "dr.martin", PASSWORD, IP, T0)
    assert signin.sign_in(coffre.uow(), ctx, "dr.martin", PASSWORD, "203.0.113.50", T0)


def test_the_failure_limits_come_from_the_settings(coffre, org):
    tight = replace(
        coffre,
        settings=coffre.settings.with_overrides(
            signin_free_failures=1,
            signin_longest_lock_minutes=2,
            signin_source_failures=3,
            signin_source_lock_minutes=5,
        ),
    ).signin()
    assert tight.policy.limits == signin.Limits(1, timedelta(minutes=2), 3, timedelta(minutes=5))
    with pytest.raises(SignInRefused, match="Wrong"):
        signin.sign_in(coffre.uow(), tight, "dr.martin", "guess", IP, T0)
    with pytest.raises(SignInRefused, match="Wrong"):  # the second failure locks
        signin.sign_in(coffre.uow(), tight, "dr.martin", "guess", "203.0.113.9", T0)
    with pytest.raises(SignInRefused, match="Too many"):
        signin.sign_in(coffre.uow(), tight, "dr.martin", PASSWORD, "203.0.113.10", T0)
    for n in range(3):  # with the first above, 4 failures from IP: more than 3
        with pytest.raises(SignInRefused, match="Wrong"):
            signin.sign_in(coffre.uow(), tight, f"member{n}", "123456", IP, T0)
    with pytest.raises(SignInRefused, match="Too many"):
        signin.sign_in(coffre.uow(), tight, "member9", "123456", IP, T0)
    later = T0 + timedelta(minutes=5, seconds=1)
    assert signin.sign_in(coffre.uow(), tight, "dr.martin", PASSWORD, IP, later)


def test_a_suspension_takes_effect_on_the_next_request(coffre, ctx, org):
    _, done, _ = enrolled(coffre, ctx)
    officer = signin.sign_in(coffre.uow(), ctx, "secu", PASSWORD, IP, T0)
    secret = mfa.new_totp_secret()
    officer_step, _ = signin.set_up_totp(
        coffre.uow(), ctx, officer.token, secret, code_at(secret, T0), T0
    )
    security = signin.session_actor(coffre.uow(), ctx, officer_step.token, T0)
    doctor = signin.session_actor(coffre.uow(), ctx, done.token, T0)
    with pytest.raises(AccessDenied):
        signin.suspend_account(coffre.uow(), doctor, "secu", "testing", now=T0)
    assert signin.suspend_account(coffre.uow(), security, "dr.martin", "mass reads", now=T0) == 1
    with pytest.raises(SessionEnded):
        signin.session_actor(coffre.uow(), ctx, done.token, T0)
    with pytest.raises(SignInRefused):
        signin.sign_in(coffre.uow(), ctx, "dr.martin", PASSWORD, IP, T0)
    signin.resume_account(coffre.uow(), local_operator(org), "dr.martin", now=T0)
    assert signin.sign_in(coffre.uow(), ctx, "dr.martin", PASSWORD, "203.0.113.2", T0)
    assert journal_records(coffre)[-2].action == "identity:account:resume"


def test_one_session_is_suspended_by_its_journal_reference(coffre, ctx, org):
    _, done, _ = enrolled(coffre, ctx)
    signin.suspend_session(
        coffre.uow(), local_operator(org), done.session.reference, "alert", now=T0
    )
    with pytest.raises(SessionEnded):
        signin.session_actor(coffre.uow(), ctx, done.token, T0)
    with pytest.raises(identity.IdentityError):
        signin.suspend_session(
            coffre.uow(), local_operator(org), done.session.reference, "x", now=T0
        )


def test_a_password_change_needs_the_current_one_and_a_good_new_one(coffre, ctx, org):
    secret, done, _ = enrolled(coffre, ctx)
    other = again(coffre, ctx, secret, T0 + timedelta(seconds=30))
    with pytest.raises(SignInRefused):
        signin.change_password(coffre.uow(), ctx, done.token, "not it", "new and long enough", T0)
    with pytest.raises(identity.WeakPassword):
        signin.change_password(coffre.uow(), ctx, done.token, PASSWORD, "password1234", T0)
    with pytest.raises(identity.WeakPassword, match="name"):
        signin.change_password(coffre.uow(), ctx, done.token, PASSWORD, "martin-cardiology-77", T0)
    renewed = signin.change_password(
        coffre.uow(), ctx, done.token, PASSWORD, "amber lantern quietly", T0
    )
    assert signin.session_actor(coffre.uow(), ctx, renewed.token, T0)
    with pytest.raises(SessionEnded):
        signin.session_actor(coffre.uow(), ctx, other.token, T0)
    assert signin.sign_in(
        coffre.uow(), ctx, "dr.martin", "amber lantern quietly", "203.0.113.3", T0
    )
    with coffre.reader() as uow:
        kinds = {n.kind for n in notify.list_notifications(uow, Recipient.ACCOUNT)}
    assert NotificationKind.PASSWORD_CHANGED in kinds


def test_a_held_session_cannot_guess_the_current_password_past_the_limits(coffre, ctx, org):
    _, done, _ = enrolled(coffre, ctx)
    for attempt in range(4):
        with pytest.raises(SignInRefused, match="Wrong"):
            signin.change_password(coffre.uow(), ctx, done.token, f"guess {attempt}", "x" * 12, T0)
    with pytest.raises(SignInRefused, match="Too many attempts") as locked:
        signin.change_password(coffre.uow(), ctx, done.token, PASSWORD, "amber lantern quietly", T0)
    assert locked.value.minutes == 1
    assert journal_records(coffre)[-1].rule == "sign-in-locked"
    later = T0 + timedelta(minutes=2)
    assert signin.change_password(
        coffre.uow(), ctx, done.token, PASSWORD, "amber lantern quietly", later
    )


def test_an_account_lists_and_ends_its_other_sessions(coffre, ctx, org):
    _, first, _ = enrolled(coffre, ctx)
    second = signin.sign_in(coffre.uow(), ctx, "dr.martin", PASSWORD, "203.0.113.4", T0)
    assert len(signin.my_sessions(coffre.uow(), first.token, T0)) == 2
    assert signin.end_other_sessions(coffre.uow(), first.token, T0) == 1
    with pytest.raises(SessionEnded):
        signin.second_factor(coffre.uow(), ctx, second.token, code="123456", now=T0)
    signin.sign_out(coffre.uow(), first.token, T0)
    with pytest.raises(SessionEnded):
        signin.session_actor(coffre.uow(), ctx, first.token, T0)
    assert journal_records(coffre)[-1].action == "identity:session:logout"


def test_unknown_and_known_usernames_take_the_same_time(coffre, ctx, org):
    """Paired, interleaved measurements: the median difference is within the noise."""

    def timed(username: str, n: int) -> float:
        start = time.perf_counter()
        with pytest.raises(SignInRefused):
            signin.sign_in(coffre.uow(), ctx, username, "not the password", f"192.0.2.{n}", T0)
        return time.perf_counter() - start

    differences, durations = [], []
    for n in range(30):
        pair = [("dr.martin", True), (f"ghost{n}", False)]
        if n % 2:
            pair.reverse()
        took = {known: timed(username, n) for username, known in pair}
        differences.append(took[True] - took[False])
        durations.append(took[True])
        with coffre.uow() as uow:  # stay under the lock: every try verifies a hash
            throttle.clear(uow, throttle.username_key(ctx.throttle_key, "dr.martin"))
            uow.commit()
    assert abs(statistics.median(differences)) < 0.15 * statistics.median(durations)


def test_a_passkey_is_a_second_factor_and_its_challenge_serves_once(coffre, ctx, org):
    from softauthn import SoftAuthenticator

    party = signin.RelyingParty("coffre.example", "https://coffre.example")
    key = SoftAuthenticator()
    step = signin.sign_in(coffre.uow(), ctx, "dr.martin", PASSWORD, IP, T0)
    options = signin.passkey_registration_options(coffre.uow(), ctx, step.token, party, T0)
    answer = key.create(options, origin=party.origin)
    done, codes = signin.add_passkey(coffre.uow(), ctx, step.token, answer, "Laptop", party, T0)
    assert len(codes) == 10
    assert signin.session_actor(coffre.uow(), ctx, done.token, T0)
    later = signin.sign_in(coffre.uow(), ctx, "dr.martin", PASSWORD, IP, T0)
    assert later.needs is Needs.SECOND_FACTOR
    with pytest.raises(SecondFactorRequired):  # no new factor before the second factor
        signin.passkey_registration_options(coffre.uow(), ctx, later.token, party, T0)
    assertion = key.get(
        signin.passkey_options(coffre.uow(), later.token, party, T0), origin=party.origin
    )
    wrong_site = signin.RelyingParty("coffre.example", "https://evil.example")
    with pytest.raises(SignInRefused):
        signin.second_factor(
            coffre.uow(), ctx, later.token, passkey=assertion, relying_party=wrong_site, now=T0
        )
    with pytest.raises(SignInRefused):  # the challenge was spent by the refused attempt
        signin.second_factor(
            coffre.uow(), ctx, later.token, passkey=assertion, relying_party=party, now=T0
        )
    fresh = key.get(
        signin.passkey_options(coffre.uow(), later.token, party, T0), origin=party.origin
    )
    done = signin.second_factor(
        coffre.uow(), ctx, later.token, passkey=fresh, relying_party=party, now=T0
    )
    assert signin.session_actor(coffre.uow(), ctx, done.token, T0).profession == "physician"


def test_failures_at_once_against_one_key_are_each_counted(coffre, ctx):
    """A stuffing run sends its failures over many connections at once: on PostgreSQL,
    where writers run side by side, none is lost and none fails on another's new row."""
    key = throttle.source_key(ctx.throttle_key, "198.51.100.7")
    now = datetime.now(UTC)
    counts: list[int] = []

    def fail() -> None:
        for _ in range(10):
            with coffre.uow() as uow:
                counts.append(throttle.record_failure(uow, key, "source", now, throttle.Limits()))
                uow.commit()

    threads = [threading.Thread(target=fail) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(counts) == list(range(1, 61))
    with coffre.reader() as uow:
        assert throttle.locked_until(uow, [key], now) == now + throttle.Limits().source_lock


def test_a_failure_after_the_window_starts_the_count_again(coffre, ctx):
    key = throttle.username_key(ctx.throttle_key, "nobody")
    start, limits = datetime.now(UTC), throttle.Limits()
    with coffre.uow() as uow:
        for n in range(limits.free + 1):
            assert throttle.record_failure(uow, key, "username", start, limits) == n + 1
        assert throttle.locked_until(uow, [key], start) == start + timedelta(minutes=1)
        later = start + throttle.WINDOW
        assert throttle.record_failure(uow, key, "username", later, limits) == 1
        assert throttle.locked_until(uow, [key], later) is None
        uow.commit()
