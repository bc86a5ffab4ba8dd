"""The watch on PostgreSQL, where transactions run side by side: two watchers starting at
once on a new installation, and an alert closed while another officer acknowledges it."""

from __future__ import annotations

import pytest

from careworld import World, account, build_world
from coffre import watch
from coffre.bootstrap import Coffre
from coffre.watch import follow, worker
from sidebyside import behind_another, in_thread, waiting_for_a_lock
from watchrules import PROBING, probe

# An officer's close of an alert, as another transaction makes it.
CLOSE = "UPDATE watch_alerts SET state = 'closed' WHERE id = :id"


@pytest.fixture
def world(postgres_coffre) -> World:  # type: ignore[no-untyped-def]
    return build_world(postgres_coffre)


def _drain(coffre: Coffre, detector: watch.Detector) -> None:
    while worker.run_once(coffre, detector, batch=50):
        pass


def _probed(coffre: Coffre, world: World, detector: watch.Detector) -> watch.Alert:
    """The open alert of a colleague probing a patient outside their care."""
    probe(coffre, world.colleague, world.patient_id, 3)
    _drain(coffre, detector)
    with coffre.reader() as uow:
        [alert] = watch.list_alerts(uow, world.clinic, watch.AlertState.OPEN)
    return alert


def test_two_watchers_starting_at_once_one_is_told_the_other_holds_the_cursor(
    postgres_coffre,
):
    coffre, outcome = postgres_coffre, {}

    def second() -> None:
        try:
            with coffre.uow() as uow:
                follow.claim(uow, "alerts", "host-b:2")
                uow.commit()
            outcome["second"] = "holds it"
        except watch.WatchBusy as busy:
            outcome["second"] = str(busy).split(" (")[0]

    with coffre.uow() as uow:
        follow.claim(uow, "alerts", "host-a:1")  # the cursor is new: inserted
        thread = in_thread(second)
        assert waiting_for_a_lock(coffre.engine)
        uow.commit()
    thread.join(10)
    assert outcome == {"second": "Another watcher"}


def test_an_alert_closed_meanwhile_is_not_acknowledged_again(postgres_coffre, world):
    coffre, outcome = postgres_coffre, {}
    officer = account(coffre, world.clinic, "secu", "security-officer")
    alert = _probed(coffre, world, watch.Detector(watch.load_rules(PROBING)))

    def acknowledge() -> None:
        try:
            watch.change_alert(coffre.uow(), officer, alert.id, watch.AlertState.ACKNOWLEDGED)
            outcome["acknowledge"] = "done"
        except watch.AlertClosed:
            outcome["acknowledge"] = "closed"

    behind_another(coffre.engine, CLOSE, {"id": alert.id}, acknowledge)  # another officer's
    assert outcome == {"acknowledge": "closed"}
    with coffre.reader() as uow:
        assert watch.get_alert(uow, alert.id).state is watch.AlertState.CLOSED


def test_a_firing_does_not_extend_an_alert_closed_meanwhile(postgres_coffre, world):
    """The officer closes the alert while the watcher stores a firing of its episode: the
    firing opens a new alert (and is told), not one absorbed by the closed one."""
    coffre = postgres_coffre
    detector = watch.Detector(watch.load_rules(PROBING))
    alert = _probed(coffre, world, detector)
    probe(coffre, world.colleague, world.patient_id, 3)  # the same episode goes on
    behind_another(  # the officer's close
        coffre.engine, CLOSE, {"id": alert.id}, lambda: _drain(coffre, detector)
    )
    with coffre.reader() as uow:
        assert [a.id for a in watch.list_alerts(uow, world.clinic, watch.AlertState.CLOSED)] == [
            alert.id
        ]
        [new] = watch.list_alerts(uow, world.clinic, watch.AlertState.OPEN)
    assert new.id != alert.id
