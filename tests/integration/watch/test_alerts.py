"""Alerts as the security officer sees them: listed per organisation and state,
acknowledged and closed by the officer with a note, refused (and journaled) for anyone
else; a closed alert stays closed."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

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
    box = coffre.secrets()
    done = watch.change_alert(
        coffre.uow(), officer, alert.id, watch.AlertState.ACKNOWLEDGED, "looking", box=box
    )
    assert done.state is watch.AlertState.ACKNOWLEDGED and done.changed_by == officer.id
    watch.change_alert(coffre.uow(), officer, alert.id, watch.AlertState.CLOSED, "a test", box=box)
    with pytest.raises(watch.AlertClosed):
        watch.change_alert(coffre.uow(), officer, alert.id, watch.AlertState.ACKNOWLEDGED)
    with pytest.raises(watch.AlertNotFound):
        watch.change_alert(coffre.uow(), officer, "nope", watch.AlertState.CLOSED)
    with coffre.reader() as uow:
        stored = watch.get_alert(uow, alert.id)
        assert watch.list_alerts(uow, world.clinic, watch.AlertState.OPEN) == []
        entries = list(journal.select_records(uow, journal.Filter(from_seq=0), limit=100_000))
    assert stored.state is watch.AlertState.CLOSED
    notes = watch.alert_notes(coffre.uow(), box, officer, alert.id)
    assert [(n.text, n.state, n.author) for n in notes] == [
        ("looking", watch.AlertState.ACKNOWLEDGED, officer.id),
        ("a test", watch.AlertState.CLOSED, officer.id),
    ]
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


def _opened(coffre: Coffre, world: World) -> watch.Alert:
    probe(coffre, world.colleague, world.patient_id, 3)
    drain(coffre, watch.Detector(watch.load_rules(PROBING)))
    with coffre.reader() as uow:
        [alert] = watch.list_alerts(uow, world.clinic, watch.AlertState.OPEN)
    return alert


def _table(coffre: Coffre, sql: str, **params: object) -> list[tuple[object, ...]]:
    with coffre.engine.begin() as conn:
        result = conn.execute(sa.text(sql), params)
        return [tuple(row) for row in result] if result.returns_rows else []


def test_a_note_is_kept_sealed_and_its_reading_is_journaled(coffre, world):
    officer = account(coffre, world.clinic, "secu", "security-officer")
    alert = _opened(coffre, world)
    text = "Dr Colleague confirmed: Mme Durand's emergency, nothing to report"
    watch.change_alert(
        coffre.uow(),
        officer,
        alert.id,
        watch.AlertState.CLOSED,
        f"  {text}\n",
        box=coffre.secrets(),
    )
    [(sealed,)] = _table(coffre, "SELECT sealed FROM watch_alert_notes")
    assert b"Durand" not in bytes(sealed) and b"emergency" not in bytes(sealed)

    with pytest.raises(AccessDenied):
        watch.alert_notes(coffre.uow(), coffre.secrets(), world.physician, alert.id)
    [note] = watch.alert_notes(coffre.uow(), coffre.secrets(), officer, alert.id)
    assert note.text == text  # kept as written, less the surrounding blanks
    with coffre.reader() as uow:
        entries = list(journal.select_records(uow, journal.Filter(from_seq=0), limit=100_000))
    reads = [
        (e.actor_id, e.outcome, e.resource_ids) for e in entries if e.action == "watch:alert:read"
    ]
    assert reads == [
        (world.physician.id, "denied", (f"alert:{alert.id}", f"alert-note:{note.id}")),
        (officer.id, "success", (f"alert:{alert.id}", f"alert-note:{note.id}")),
    ]
    assert all("Durand" not in str(e) for e in entries)


def test_a_note_moved_to_another_alert_or_altered_does_not_open(coffre, world):
    officer = account(coffre, world.clinic, "secu", "security-officer")
    first = _opened(coffre, world)
    box = coffre.secrets()
    watch.change_alert(coffre.uow(), officer, first.id, watch.AlertState.CLOSED, "first", box=box)
    second = _opened(coffre, world)
    assert second.id != first.id  # a closed alert is not extended: a new one opened
    _table(coffre, f"UPDATE watch_alert_notes SET alert_id = '{second.id}'")
    with pytest.raises(watch.WatchError, match="does not open"):
        watch.alert_notes(coffre.uow(), box, officer, second.id)
    _table(coffre, f"UPDATE watch_alert_notes SET alert_id = '{first.id}'")
    assert [n.text for n in watch.alert_notes(coffre.uow(), box, officer, first.id)] == ["first"]
    [(sealed,)] = _table(coffre, "SELECT sealed FROM watch_alert_notes")
    flipped = bytes(sealed)[:-1] + bytes([bytes(sealed)[-1] ^ 1])
    _table(coffre, "UPDATE watch_alert_notes SET sealed = :sealed", sealed=flipped)
    with pytest.raises(watch.WatchError, match="does not open"):
        watch.alert_notes(coffre.uow(), box, officer, first.id)


def test_a_note_too_long_changes_nothing(coffre, world):
    officer = account(coffre, world.clinic, "secu", "security-officer")
    alert = _opened(coffre, world)
    with coffre.reader() as uow:
        size = journal.size(uow)
    with pytest.raises(watch.WatchError, match="at most 2,000 characters"):
        watch.change_alert(
            coffre.uow(),
            officer,
            alert.id,
            watch.AlertState.CLOSED,
            "x" * (watch.NOTE_LIMIT + 1),
            box=coffre.secrets(),
        )
    with coffre.reader() as uow:
        assert journal.size(uow) == size
        assert watch.get_alert(uow, alert.id).state is watch.AlertState.OPEN
    assert _table(coffre, "SELECT count(*) FROM watch_alert_notes") == [(0,)]
