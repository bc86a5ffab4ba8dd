"""Alerts as the security officer sees them: listed per organisation and state,
acknowledged and closed by the officer with a note, refused (and journaled) for anyone
else; a closed alert stays closed."""

from __future__ import annotations

import contextlib

import pytest

from careworld import World, account, build_world
from coffre import journal, records, watch
from coffre.access import AccessDenied, Purpose
from coffre.bootstrap import Coffre
from coffre.watch import worker

PROBING = """
title: Denied reads of patient data
name: denied_read
logsource: {product: coffre, service: journal}
detection:
  read:
    action|endswith: ':read'
    subject: [patient, record, document]
  denied:
    decision: deny
  condition: read and denied
---
title: Probing, one actor denied again and again
name: probing
level: high
correlation:
  type: event_count
  rules: denied_read
  group-by: actor_id
  timespan: 5m
  condition: {gte: 3}
coffre:
  response: suspend-account
"""


def probe(coffre: Coffre, actor, patient_id: str, times: int) -> None:
    for _ in range(times):
        with contextlib.suppress(AccessDenied):
            records.read_patient(coffre.uow(), coffre.vault, actor, patient_id, Purpose.CARE)


def drain(coffre: Coffre, detector: watch.Detector) -> None:
    while worker.run_once(coffre, detector, batch=50):
        pass


@pytest.fixture
def world(coffre: Coffre) -> World:
    return build_world(coffre)


def test_the_security_officer_handles_an_alert_and_a_physician_may_not(coffre, world):
    officer = account(coffre, world.clinic, "secu", "security-officer")
    probe(coffre, world.colleague, world.patient_id, 3)
    drain(coffre, watch.Detector(watch.load_rules(PROBING)))
    with coffre.reader() as uow:
        [alert] = watch.list_alerts(uow, world.clinic, watch.AlertState.OPEN)

    with pytest.raises(AccessDenied):
        watch.change_alert(coffre.uow(), world.physician, alert.id, watch.AlertState.CLOSED)
    done = watch.change_alert(
        coffre.uow(), officer, alert.id, watch.AlertState.ACKNOWLEDGED, "looking"
    )
    assert done.state is watch.AlertState.ACKNOWLEDGED and done.changed_by == officer.id
    watch.change_alert(coffre.uow(), officer, alert.id, watch.AlertState.CLOSED, "a test")
    with pytest.raises(watch.AlertClosed):
        watch.change_alert(coffre.uow(), officer, alert.id, watch.AlertState.ACKNOWLEDGED)
    with pytest.raises(watch.AlertNotFound):
        watch.change_alert(coffre.uow(), officer, "nope", watch.AlertState.CLOSED)
    with coffre.reader() as uow:
        stored = watch.get_alert(uow, alert.id)
        assert watch.list_alerts(uow, world.clinic, watch.AlertState.OPEN) == []
        entries = list(journal.select_records(uow, journal.Filter(from_seq=0), limit=100_000))
    assert (stored.state, stored.note) == (watch.AlertState.CLOSED, "a test")
    changes = [
        (e.actor_id, e.outcome, dict(e.facts)["state"])
        for e in entries
        if e.action == "watch:alert:update"
    ]
    assert changes == [
        (world.physician.id, "denied", "closed"),
        (officer.id, "success", "acknowledged"),
        (officer.id, "success", "closed"),
    ]
    assert all("a test" not in str(e) for e in entries)
