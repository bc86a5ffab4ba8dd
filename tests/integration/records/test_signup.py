"""A patient opens their own account from the address their record holds, on SQLite and
PostgreSQL: one answer in one time for any address, a single-use link valid 30 minutes sent
only to the address on file, a username that names nobody, nothing in clear."""

from __future__ import annotations

import base64
import json
import statistics
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from coffre import identity, notify, records, signin
from coffre.identity import OrganisationKind, WeakPassword, local_operator, resets
from coffre.notify import NotificationKind, Recipient
from coffre.records import SignUpRefused
from coffre.signin import Needs
from factories import journal_records, lines_of, patient

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
EMAIL = "helene.lefevre@example.org"
SHARED = "famille.dupont@example.org"
PASSWORD = "amber lantern quietly"
SOURCE = "192.0.2.8"


@pytest.fixture
def clinic(coffre):  # type: ignore[no-untyped-def]
    with coffre.uow() as uow:
        org = identity.create_organisation(uow, "Cabinet", OrganisationKind.CARE_PROVIDER, "FR").id
        uow.commit()
    people = [
        patient(email=EMAIL),
        patient(family="Dupont", given="Marc", email=SHARED),
        patient(family="Dupont", given="Lina", email=SHARED),
    ]
    report = records.import_patients(
        coffre.uow(), coffre.vault, local_operator(org), lines_of(people), org
    )
    return org, [patient_id for _, patient_id in report.imported]


def ask(coffre, email: str, now: datetime = T0, source: str = SOURCE) -> None:  # type: ignore[no-untyped-def]
    assert (
        records.request_sign_up(
            coffre.uow(), coffre.vault, coffre.sign_up_keys(), email, source, now
        )
        is None
    )


def sent(
    coffre, recipient: Recipient, recipient_id: str | None = None
) -> list[notify.Notification]:  # type: ignore[no-untyped-def]
    with coffre.reader() as uow:
        return notify.list_notifications(uow, recipient, recipient_id)


def the_link(coffre, patient_id: str) -> str:  # type: ignore[no-untyped-def]
    links = [
        n
        for n in sent(coffre, Recipient.PATIENT, patient_id)
        if n.kind is NotificationKind.SIGN_UP_LINK
    ]
    sealed = links[0].params["link"].removeprefix("sealed:")  # the newest
    box = coffre.sign_up_keys().box
    return box.open(base64.urlsafe_b64decode(sealed), f"sign-up:{patient_id}").decode()


def complete(coffre, token: str, password: str = PASSWORD, now: datetime = T0) -> str:  # type: ignore[no-untyped-def]
    return records.complete_sign_up(
        coffre.uow(), coffre.sign_up_keys(), token, password, SOURCE, now
    )


def fact(entry, name: str) -> str:  # type: ignore[no-untyped-def]
    return dict(entry.facts)[name]


def test_a_patient_opens_their_account_with_the_link_once(coffre, clinic):
    org, (helene, *_) = clinic
    ask(coffre, f"  {EMAIL} ")
    username = complete(coffre, the_link(coffre, helene), now=T0 + timedelta(minutes=10))
    assert username.startswith("p-") and len(username) == 10
    with coffre.reader() as uow:
        account = identity.find_account(uow, username)
        address = resets.email_of(uow, coffre.sign_up_keys().box, account.id)
    assert (account.role, account.patient_id, account.organisation_id) == ("patient", helene, org)
    assert "Lefèvre" not in account.display_name and address == EMAIL
    step = signin.sign_in(coffre.uow(), coffre.signin(), username, PASSWORD, SOURCE, T0)
    assert step.needs is Needs.NOTHING
    [welcome] = sent(coffre, Recipient.ACCOUNT, account.id)
    assert welcome.kind is NotificationKind.ACCOUNT_CREATED
    assert username in notify.render(welcome, "fr")[1]
    request, created = [r for r in journal_records(coffre) if r.action.startswith("identity:")][:2]
    assert (request.action, request.outcome, request.rule, request.patient_ids) == (
        "identity:sign-up:request",
        "success",
        "self-sign-up",
        (helene,),
    )
    assert (created.action, created.actor_id, created.patient_ids) == (
        "identity:account:create",
        account.id,
        (helene,),
    )
    with pytest.raises(SignUpRefused, match="not valid any more"):
        complete(coffre, the_link(coffre, helene), now=T0 + timedelta(minutes=11))


def test_a_link_lasts_30_minutes_and_a_newer_one_replaces_it(coffre, clinic):
    _, (helene, *_) = clinic
    ask(coffre, EMAIL)
    first = the_link(coffre, helene)
    with pytest.raises(SignUpRefused):
        complete(coffre, first, now=T0 + timedelta(minutes=30))
    ask(coffre, EMAIL, T0 + timedelta(minutes=31))
    second = the_link(coffre, helene)
    ask(coffre, EMAIL, T0 + timedelta(minutes=32))
    with pytest.raises(SignUpRefused):
        complete(coffre, second, now=T0 + timedelta(minutes=33))
    assert complete(coffre, the_link(coffre, helene), now=T0 + timedelta(minutes=33))
    with pytest.raises(SignUpRefused):
        complete(coffre, "made-up", now=T0)


def test_a_weak_password_changes_nothing(coffre, clinic):
    _, (helene, *_) = clinic
    ask(coffre, EMAIL)
    token = the_link(coffre, helene)
    for weak in ("short", "password123", "p-"):
        with pytest.raises(WeakPassword):
            complete(coffre, token, weak)
    with coffre.reader() as uow:
        assert identity.account_of_patient(uow, helene) is None
    assert complete(coffre, token)


def test_a_record_with_an_account_gets_a_reminder(coffre, clinic):
    _, (helene, *_) = clinic
    ask(coffre, EMAIL)
    username = complete(coffre, the_link(coffre, helene))
    ask(coffre, EMAIL.upper(), T0 + timedelta(minutes=1))
    with coffre.reader() as uow:
        account = identity.account_of_patient(uow, helene)
    assert account is not None
    reminder = sent(coffre, Recipient.ACCOUNT, account.id)[0]  # the newest
    assert reminder.kind is NotificationKind.SIGN_UP_EXISTING
    assert username in notify.render(reminder, "nl")[1]
    assert fact(journal_records(coffre)[-1], "sent") == "existing"


def test_a_shared_address_opens_no_account(coffre, clinic):
    _, (_, marc, lina) = clinic
    ask(coffre, SHARED)
    told = sent(coffre, Recipient.PATIENT, marc) + sent(coffre, Recipient.PATIENT, lina)
    assert [n.kind for n in told] == [NotificationKind.SIGN_UP_AMBIGUOUS]
    last = journal_records(coffre)[-1]
    assert fact(last, "sent") == "ambiguous"
    assert sorted(last.patient_ids) == sorted([marc, lina])


def test_one_answer_in_one_time_whatever_the_address(coffre, clinic):
    addresses = {
        "on file": EMAIL,
        "shared": SHARED,
        "unknown": "nobody@example.org",
    }
    took: dict[str, list[float]] = {name: [] for name in addresses}
    for round_ in range(4):
        for name, email in addresses.items():
            start = time.monotonic()
            ask(coffre, email, T0 + timedelta(minutes=round_), f"198.51.100.{round_}")
            took[name].append(time.monotonic() - start)
    medians = {name: statistics.median(times) for name, times in took.items()}
    assert min(min(times) for times in took.values()) >= records.SIGN_UP_FLOOR
    assert max(medians.values()) - min(medians.values()) < 0.05
    unknown = journal_records(coffre)[-1]
    assert (unknown.outcome, unknown.patient_ids, fact(unknown, "sent")) == (
        "failed",
        (),
        "nothing",
    )
    everything = json.dumps([r.__dict__ for r in journal_records(coffre)], default=str)
    for clear in (EMAIL, SHARED, "nobody@example.org", "Lefèvre", "Dupont"):
        assert clear not in everything


def test_asking_too_often_sends_nothing_more(coffre, clinic):
    _, (helene, *_) = clinic
    keys = coffre.sign_up_keys()
    tight = replace(keys, limits=replace(keys.limits, free=2))
    for n in range(4):
        records.request_sign_up(coffre.uow(), coffre.vault, tight, EMAIL, f"203.0.113.{n}", T0)
    links = [
        n
        for n in sent(coffre, Recipient.PATIENT, helene)
        if n.kind is NotificationKind.SIGN_UP_LINK
    ]
    assert len(links) == 3  # the third request locks the address: the fourth sends nothing
    assert fact(journal_records(coffre)[-1], "locked") == "true"


def test_not_an_address_and_an_erased_record(coffre, clinic):
    org, (helene, *_) = clinic
    for bad in ("", "no-at-sign", "two words@example.org"):
        with pytest.raises(SignUpRefused, match="e-mail address"):
            ask(coffre, bad)
    ask(coffre, EMAIL)
    token = the_link(coffre, helene)
    records.erase_patient(
        coffre.uow(), coffre.vault, local_operator(org), helene, records.ErasureReason.TEST_DATA
    )
    with pytest.raises(SignUpRefused):
        complete(coffre, token)
