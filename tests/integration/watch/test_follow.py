"""Following the journal: every entry read once in order from a stored cursor, a restart
resuming where the last reader stopped, and events that carry ids and codes, never a
patient's name or number."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from careworld import World, build_world
from coffre import journal, records, watch
from coffre.access import Purpose
from coffre.bootstrap import Coffre
from coffre.watch import follow
from watchrules import PROBING, probe


@pytest.fixture
def world(coffre: Coffre) -> World:
    return build_world(coffre)


def size(coffre: Coffre) -> int:
    with coffre.reader() as uow:
        return journal.size(uow)


def test_a_reader_takes_every_entry_once_in_order_and_resumes_after_a_restart(coffre, world):
    total = size(coffre)
    assert total > 10
    seen: list[int] = []
    while True:
        with coffre.uow() as uow:
            start = follow.position(uow, "alerts")
            events = follow.read(uow, start, batch=7)
            if not events:
                break
            seen += [e["seq"] for e in events]
            follow.advance(uow, "alerts", events[-1]["seq"] + 1)
            uow.commit()
    assert seen == list(range(total))

    # New entries after a "restart" (a fresh unit of work): only those are read.
    records.read_patient(
        coffre.uow(), coffre.vault, world.physician, world.patient_id, Purpose.CARE
    )
    with coffre.reader() as uow:
        [event] = follow.read(uow, follow.position(uow, "alerts"))
    assert (event["seq"], event["action"], event["actor_id"]) == (
        total,
        "records:patient:read",
        world.physician.id,
    )
    assert event["patient_id"] == [world.patient_id] and event["patient_count"] == 1
    assert (event["module"], event["subject"], event["verb"]) == ("records", "patient", "read")
    assert event["decision"] == "allow" and event["rule"] == "care-relationship"
    assert event["time"].tzinfo is not None and event["time"] <= datetime.now(UTC)


def test_cursors_are_kept_per_reader_and_never_move_back(coffre, world):
    with coffre.uow() as uow:
        assert follow.position(uow, "a") == follow.position(uow, "b") == 0
        follow.advance(uow, "a", 5)
        follow.advance(uow, "a", 3)
        follow.advance(uow, "b", 2)
        uow.commit()
    with coffre.reader() as uow:
        assert (follow.position(uow, "a"), follow.position(uow, "b")) == (5, 2)
        assert [e["seq"] for e in follow.read(uow, 5, batch=2)] == [5, 6]


def test_an_uncommitted_advance_is_replayed(coffre, world):
    with coffre.uow() as uow:
        follow.advance(uow, "alerts", 4)
    with coffre.reader() as uow:
        assert follow.position(uow, "alerts") == 0


def test_events_hold_ids_and_codes_never_a_patients_name_or_number(coffre, world):
    stored = records.read_patient(
        coffre.uow(), coffre.vault, world.operator, world.patient_id, Purpose.SUBJECT_ACCESS
    )
    values = [
        stored["name"][0]["family"],
        stored["name"][0]["given"][0],
        stored["identifier"][0]["value"],
        stored["address"][0]["line"][0],
        *(t["value"] for t in stored["telecom"]),
    ]
    with coffre.reader() as uow:
        events = follow.read(uow, 0, batch=10_000)
    assert {e["action"] for e in events} >= {"records:patient:read", "records:patient:import"}
    text = json.dumps(events, default=str).casefold()
    for value in values:
        assert value.casefold() not in text
    assert "fact_actor_kind" in {k for e in events for k in e}


def test_the_rules_fire_on_the_journal_as_it_is_followed(coffre, world):
    """Three refused reads by a professional without relationship: the probing rule fires
    on the third, naming the three entries; the physician's allowed reads do not count."""
    for _ in range(3):
        probe(coffre, world.colleague, world.patient_id, 1)
        probe(coffre, world.physician, world.patient_id, 1)
    detector = watch.Detector(watch.load_rules(PROBING), id_field="seq", time_field="time")
    with coffre.reader() as uow:
        events = follow.read(uow, follow.position(uow, "alerts"))
    firings = [f for e in events for f in detector.observe(e)]
    probing = [f for f in firings if f.rule.title.startswith("Probing")]
    [fired] = probing
    denied = [e["seq"] for e in events if e["decision"] == "deny"]
    assert sorted(fired.event_ids) == denied and len(denied) == 3
    assert fired.group == (world.colleague.id,)
    assert fired.response.value == "suspend-account"
