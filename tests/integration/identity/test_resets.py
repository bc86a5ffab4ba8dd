"""Password resets: a single-use link valid 30 minutes, sent sealed through the outbox; the
same answer, in the same time, whoever asks."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime, timedelta

import pytest

from coffre import identity, notify, signin
from coffre.identity import NewAccount, OrganisationKind, resets
from coffre.notify import NotificationKind, Recipient
from coffre.signin import Needs, SessionEnded, SignInRefused
from factories import journal_records

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
PASSWORD = "violet kettle orbit 1968"
EMAIL = "anne.martin@clinique.example"


@pytest.fixture
def people(coffre):  # type: ignore[no-untyped-def]
    ctx = coffre.signin()
    with coffre.uow() as uow:
        org = identity.create_organisation(uow, "Cabinet", OrganisationKind.CARE_PROVIDER, "FR").id
        patient, _ = identity.create_accounts(
            uow,
            [
                NewAccount(org, "patient.one", PASSWORD, "patient", "Patient one"),
                NewAccount(org, "no.email", PASSWORD, "patient", "Patient two"),
            ],
        )
        resets.set_email(uow, ctx.box, patient, EMAIL)
        uow.commit()
    return ctx, patient


def the_link(coffre, ctx, account_id):  # type: ignore[no-untyped-def]
    with coffre.reader() as uow:
        [sent] = notify.list_notifications(uow, Recipient.ACCOUNT, account_id)
    assert sent.kind is NotificationKind.PASSWORD_RESET
    sealed = sent.params["link"].removeprefix("sealed:")
    return ctx.box.open(base64.urlsafe_b64decode(sealed), f"reset:{account_id}").decode()


def test_a_reset_link_works_once_and_ends_every_session(coffre, people):
    ctx, patient = people
    old = signin.sign_in(coffre.uow(), ctx, "patient.one", PASSWORD, "192.0.2.1", T0)
    assert old.needs is Needs.NOTHING
    signin.request_password_reset(coffre.uow(), ctx, "patient.one", "192.0.2.1", T0)
    token = the_link(coffre, ctx, patient)
    signin.reset_password(
        coffre.uow(), ctx, token, "amber lantern quietly", T0 + timedelta(minutes=5)
    )
    with pytest.raises(SessionEnded):
        signin.session_actor(coffre.uow(), ctx, old.token, T0 + timedelta(minutes=6))
    with pytest.raises(SignInRefused, match="not valid"):
        signin.reset_password(
            coffre.uow(), ctx, token, "another fine phrase", T0 + timedelta(minutes=7)
        )
    assert signin.sign_in(
        coffre.uow(), ctx, "patient.one", "amber lantern quietly", "192.0.2.9", T0
    )
    with coffre.engine.connect() as conn:
        stored = b"".join(
            bytes(r[0]) for r in conn.exec_driver_sql("SELECT entry FROM journal_entries")
        )
        outbox = "".join(r[0] for r in conn.exec_driver_sql("SELECT params FROM notifications"))
    assert EMAIL.encode() not in stored and token.encode() not in stored and token not in outbox


def test_an_expired_or_weak_reset_is_refused(coffre, people):
    ctx, patient = people
    signin.request_password_reset(coffre.uow(), ctx, "patient.one", "192.0.2.1", T0)
    token = the_link(coffre, ctx, patient)
    with pytest.raises(identity.WeakPassword):
        signin.reset_password(coffre.uow(), ctx, token, "password1", T0)
    signin.request_password_reset(coffre.uow(), ctx, "patient.one", "192.0.2.1", T0)
    with coffre.reader() as uow:
        newest = notify.list_notifications(uow, Recipient.ACCOUNT, patient)[0]
    sealed = newest.params["link"].removeprefix("sealed:")
    fresh = ctx.box.open(base64.urlsafe_b64decode(sealed), f"reset:{patient}").decode()
    with pytest.raises(SignInRefused):
        signin.reset_password(
            coffre.uow(), ctx, fresh, "amber lantern quietly", T0 + timedelta(minutes=31)
        )


def test_the_answer_is_the_same_in_the_same_time_for_anyone(coffre, people):
    ctx, patient = people
    took = {}
    for username in ("patient.one", "no.email", "nobody.at.all"):
        start = time.monotonic()
        assert signin.request_password_reset(coffre.uow(), ctx, username, "192.0.2.3", T0) is None
        took[username] = time.monotonic() - start
    assert min(took.values()) >= signin.RESET_FLOOR
    assert max(took.values()) - min(took.values()) < 0.1
    with coffre.reader() as uow:
        sent = notify.list_notifications(uow, Recipient.ACCOUNT)
    assert [n.recipient_id for n in sent] == [patient]
    assert [e.rule for e in journal_records(coffre)[-3:]] == ["password-reset-request"] * 3
