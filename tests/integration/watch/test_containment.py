"""Containment end to end: the shipped rules, followed by the background watcher as
`coffre serve` runs it, suspend on the inline guard's stop; each kind of suspension bites on
the next request; the security officer lifts it with `resume`; profiles survive a restart."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import pytest

from careworld import World, build_world, more_in_care
from coffre import identity, journal, records, signin, watch
from coffre.access import AccessDenied, Purpose
from coffre.bootstrap import Coffre
from coffre.identity import clients as machine
from coffre.identity import local_operator
from coffre.identity.errors import IdentityError
from coffre.records import Guard, GuardLimits
from coffre.watch import follow, worker
from coffre.watch.background import STUCK_AFTER, Watcher
from coffre.watch.profiles import Profiles
from coffre.watch.resume import resume
from machineclients import client_actor

ANY_READ = (
    "title: Any read\nname: any_read\nlogsource: {product: coffre, service: journal}\n"
    "detection: {sel: {action: 'records:patient:read'}, condition: sel}\n"
)


@pytest.fixture
def world(coffre: Coffre) -> World:
    return build_world(coffre)


def wait_for(condition, seconds: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the watcher did not act in time"
        time.sleep(0.05)


def suspended(coffre: Coffre, account_id: str) -> bool:
    with coffre.reader() as uow:
        return identity.is_suspended(uow, account_id)


def test_a_scrape_is_stopped_by_the_guard_then_the_account_suspended(coffre, world):
    coffre.vault.guard = Guard(GuardLimits(people=2, clients=2, window=timedelta(minutes=10)))
    ids = more_in_care(coffre, world, 2)
    watcher = Watcher(coffre, watch.shipped_rules(), poll=0.05)
    watcher.start()
    try:
        for patient_id in ids[:2]:
            records.read_patient(
                coffre.uow(), coffre.vault, world.physician, patient_id, Purpose.CARE
            )
        with pytest.raises(AccessDenied) as refused:
            records.read_patient(coffre.uow(), coffre.vault, world.physician, ids[2], Purpose.CARE)
        assert refused.value.rule == "guard-distinct-patients"
        wait_for(lambda: suspended(coffre, world.physician.id))
    finally:
        watcher.stop()
    assert watcher.failures == 0
    with coffre.reader() as uow:
        [alert] = watch.list_alerts(uow)
    assert alert.rule_ref == "guard_stop_account" and alert.severity == "critical"
    assert alert.explanation is not None
    assert alert.explanation.startswith("The gate refused an account a new patient")
    # The security officer (here the operator) lifts it; it is journaled.
    assert resume(coffre, local_operator(world.clinic), alert.id) == [
        f"account {world.physician.id}"
    ]
    assert not suspended(coffre, world.physician.id)
    assert resume(coffre, local_operator(world.clinic), alert.id) == []
    with coffre.reader() as uow:
        last = list(journal.select_records(uow, journal.Filter(from_seq=0), limit=100_000))[-1]
    assert (last.action, last.outcome) == ("identity:account:resume", "success")


def test_resume_is_decided_by_access(coffre, world):
    """Only the organisation's security officer or administrator, or the operator, lifts a
    suspension: another professional is refused, and the account stays suspended."""
    contain_account(coffre, world)
    with coffre.reader() as uow:
        [alert] = watch.list_alerts(uow)
    with pytest.raises(AccessDenied):
        resume(coffre, world.colleague, alert.id)
    assert suspended(coffre, world.physician.id)


def contain_account(coffre: Coffre, world: World) -> None:
    """Store an alert on the physician's last entry and apply suspend-account."""
    records.read_patient(
        coffre.uow(), coffre.vault, world.physician, world.patient_id, Purpose.CARE
    )
    rules = watch.load_rules(ANY_READ + "coffre: {response: suspend-account}\n")
    found = watch.Detector(rules, id_field="seq", time_field="time")
    while worker.run_once(coffre, found):
        pass


def test_suspend_token_and_suspend_session_on_a_token_bite_at_once(coffre, world):
    token, _ = signin.issue_personal_token(
        coffre.uow(), world.operator, "dr.martin", "user/*.read", timedelta(hours=1)
    )
    holder = signin.token_actor(coffre.uow(), token)
    records.read_patient(coffre.uow(), coffre.vault, holder, world.patient_id, Purpose.CARE)
    with coffre.reader() as uow:
        [event] = [e for e in follow.read(uow, 0, 100_000) if e["session_id"] == holder.session_id][
            -1:
        ]
    for response in (watch.Response.SUSPEND_SESSION, watch.Response.SUSPEND_TOKEN):
        with coffre.uow() as uow:
            worker.contain(uow, response, event, "alert-1")
            uow.commit()
    with pytest.raises(IdentityError):
        signin.token_actor(coffre.uow(), token)
    with coffre.reader() as uow:
        named = [
            r
            for r in journal.select_records(uow, journal.Filter(from_seq=0), limit=100_000)
            if "alert:alert-1" in r.resource_ids
        ]
    # Suspended once: the second response found it suspended already.
    assert [(r.action, r.actor_id) for r in named] == [("identity:token:update", "system:watch")]


def test_suspend_client_bites_at_once(coffre, world):
    lab_client = client_actor(coffre, world.lab, "system/Observation.rs")
    event = {
        "actor_kind": "client",
        "actor_id": lab_client.id,
        "session_id": lab_client.session_id,
        "organisation_id": world.lab,
    }
    with coffre.uow() as uow:
        worker.contain(uow, watch.Response.SUSPEND_CLIENT, event, "alert-2")
        uow.commit()
    with coffre.reader() as uow:
        assert machine.get_client(uow, lab_client.id).suspended_at is not None
    # An unknown client (a refused assertion names no real client) is left alone.
    with coffre.uow() as uow:
        worker.contain(uow, watch.Response.SUSPEND_CLIENT, {**event, "actor_id": "nobody"}, "a3")


def test_profiles_are_saved_with_the_batch_and_read_back(coffre, world):
    for _ in range(3):
        records.read_patient(
            coffre.uow(), coffre.vault, world.physician, world.patient_id, Purpose.CARE
        )
    first = Profiles()
    found = watch.Detector(watch.shipped_rules(), id_field="seq", time_field="time")
    while worker.run_once(coffre, found, profiles=first):
        pass
    # A restarted watcher reads the profile back: the physician is known, not new.
    with coffre.reader() as uow:
        events = follow.read(uow, 0, 100_000)
        again = Profiles()
        again.load(uow, events)
    mine = [e for e in events if e["actor_id"] == world.physician.id and e["decision"] == "allow"]
    later = {**mine[-1], "time": datetime.now(UTC) + timedelta(days=3), "seq": 10**9}
    again.observe(later)
    assert later["actor_idle_days"] >= 2.9
    assert later["actor_patients_hour"] == 1  # this one: the earlier hour's are long gone


class Flaky:
    """An installation whose first units of work fail (a database gone for a moment)."""

    def __init__(self, coffre: Coffre, fails: int = 1) -> None:
        self.coffre, self.calls, self.fails = coffre, 0, fails

    def uow(self):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.calls <= self.fails:
            raise OSError("database unavailable")
        return self.coffre.uow()


def test_the_watcher_outlives_a_failed_batch_and_misses_nothing(coffre, world):
    records.read_patient(
        coffre.uow(), coffre.vault, world.physician, world.patient_id, Purpose.CARE
    )
    watcher = Watcher(Flaky(coffre), watch.load_rules(ANY_READ), poll=0.01)
    watcher.start()
    try:
        wait_for(lambda: watcher.batches >= 2)
    finally:
        watcher.stop()
    assert watcher.failures == 1
    with coffre.reader() as uow:
        [alert] = watch.list_alerts(uow)
    assert alert.rule_ref == "any_read"


def test_windows_judged_only_once_over_are_judged_at_the_journal_end(coffre, world):
    """A correlation with `lt` fires when its window is over: the worker moves the
    detector's clock on at the journal's end, and stores what that fires."""
    rules = watch.load_rules(
        ANY_READ + "---\ntitle: Few reads\nname: few_reads\ncorrelation:\n  type: event_count\n"
        "  rules: any_read\n  group-by: actor_id\n  timespan: 1m\n  condition: {lt: 5}\n"
    )
    records.read_patient(
        coffre.uow(), coffre.vault, world.physician, world.patient_id, Purpose.CARE
    )
    found = watch.Detector(rules, id_field="seq", time_field="time")
    assert worker.run_once(coffre, found) > 0
    assert worker.run_once(coffre, found, now=datetime.now(UTC)) == 0
    with coffre.reader() as uow:
        assert watch.list_alerts(uow) == []  # the window is not over yet
    assert worker.run_once(coffre, found, now=datetime.now(UTC) + timedelta(minutes=2)) == 0
    with coffre.reader() as uow:
        [alert] = watch.list_alerts(uow)
    assert (alert.rule_ref, alert.group_key) == ("few_reads", world.physician.id)


def test_a_watcher_that_keeps_failing_says_it_is_stuck_then_recovers(coffre, world, caplog):
    records.read_patient(
        coffre.uow(), coffre.vault, world.physician, world.patient_id, Purpose.CARE
    )
    flaky = Flaky(coffre, fails=STUCK_AFTER)
    watcher = Watcher(flaky, watch.load_rules(ANY_READ), poll=0.01)
    with caplog.at_level(logging.WARNING, logger="coffre.watch"):
        watcher.start()
        try:
            wait_for(lambda: watcher.batches >= 1, seconds=20)
        finally:
            watcher.stop()
    assert watcher.failures == STUCK_AFTER and not watcher.stuck
    stuck = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(stuck) == 1 and "stuck" in stuck[0].getMessage()
    assert "unavailable" not in caplog.text  # the kind of failure only, never its content
    with coffre.reader() as uow:
        assert len(watch.list_alerts(uow)) == 1
