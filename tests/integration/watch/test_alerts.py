"""Alerts as the security officer sees them: listed per organisation and state,
acknowledged and closed by the officer with a note, refused (and journaled) for anyone
else; a closed alert stays closed."""

from __future__ import annotations

import pytest

from careworld import World, account, build_world
from coffre import journal, watch
from coffre.access import AccessDenied
from coffre.bootstrap import Coffre
from coffre.watch import worker
from watchrules import PROBING, probe


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
