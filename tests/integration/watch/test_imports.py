"""Importing another system's audit log: all or nothing, journaled, patient ids hashed; its
events raise alerts through the same rules, told to the security officer, never contained."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from coffre import journal, notify, watch
from coffre.access import AccessDenied
from coffre.bootstrap import Coffre
from coffre.notify import NotificationKind, Recipient
from coffre.watch import imports
from coffre.watch.alerts import store_firing
from coffre.watch.formats import Format
from coffre.watch.tables import watch_cursors, watch_imported_events, watch_imports
from watchrules import PROBING

# An AuditEvent's action is import:<subtype or type>:<verb>: rules name the verb.
IMPORTED_PROBING = PROBING.replace(
    "action|endswith: ':read'\n    subject: [patient, record, document]",
    "module: import\n    verb: read",
)
assert IMPORTED_PROBING != PROBING


def audit_event(minute: int, patient: str, outcome: str = "4") -> dict[str, object]:
    return {
        "resourceType": "AuditEvent",
        "type": {"code": "rest"},
        "subtype": [{"code": "read"}],
        "action": "R",
        "recorded": f"2026-11-23T10:{minute:02d}:00+01:00",
        "outcome": outcome,
        "agent": [
            {
                "who": {"reference": "Practitioner/p1", "display": "Dr Jean Dupont"},
                "requestor": True,
                "network": {"address": "198.51.100.7"},
            }
        ],
        "entity": [{"what": {"reference": f"Patient/{patient}", "display": "Marie Curie"}}],
    }


@pytest.fixture
def log(tmp_path: Path) -> Path:
    # Written out of time order: the import stores them in time order.
    events = [
        audit_event(3, "p3"),
        audit_event(0, "p1", outcome="0"),
        audit_event(1, "p1"),
        audit_event(2, "p2"),
    ]
    path = tmp_path / "old-emr.ndjson"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def entries(coffre: Coffre, action: str) -> list[journal.Record]:
    with coffre.reader() as uow:
        found = journal.select_records(uow, journal.Filter(from_seq=0), limit=100_000)
        return [e for e in found if e.action == action]


def detector(rules: str = IMPORTED_PROBING) -> imports.SourceDetectors:
    return imports.SourceDetectors(watch.load_rules(rules))


def rewind(coffre: Coffre) -> None:
    """Move the imported store's cursor back to its start, as if nothing had been read."""
    with coffre.uow() as uow:
        uow.connection.execute(
            watch_cursors.update().where(watch_cursors.c.name == "imports").values(position=0)
        )
        uow.commit()


def drain(coffre: Coffre, found: imports.SourceDetectors) -> None:
    while imports.run_imports_once(coffre, found, batch=2):
        pass


def test_an_import_stores_every_event_hashed_and_journals_it(
    coffre: Coffre, operator, organisation, log
):
    done = imports.import_file(
        coffre, operator, log, Format.AUDITEVENT, source="old-emr", organisation_id=organisation
    )
    assert (done.source, done.lines, done.format) == ("old-emr", 4, Format.AUDITEVENT)
    with coffre.reader() as uow:
        read = imports.read(uow, 0)
        stored = uow.connection.execute(sa.select(watch_imported_events.c.event)).scalars().all()
        [row] = uow.connection.execute(sa.select(watch_imports)).all()
        assert imports.behind(uow) == 4
    assert [i.event["seq"] for i in read] == list(range(done.first, done.last + 1))
    assert [i.event["time"].minute for i in read] == [0, 1, 2, 3]  # in time order, UTC
    assert {(i.organisation_id, i.source) for i in read} == {(organisation, "old-emr")}
    second = read[1].event
    assert second["decision"] == "deny" and second["actor_id"] == "Practitioner/p1"
    pseudonyms = imports.pseudonyms(coffre.keyring)
    assert second["patient_id"] == [pseudonyms.patient("Patient/p1")]
    for text in stored:
        assert "Patient/p" not in text and "Marie" not in text and "Dupont" not in text
    assert (row.file_name, row.lines, row.imported_by) == (log.name, 4, operator.id)

    [entry] = entries(coffre, "watch:import:create")
    assert entry.resource_ids == (f"watch-import:{done.id}",) and entry.patient_ids == ()
    assert entry.actor_id == operator.id and entry.outcome == "success"
    assert dict(entry.facts)["events"] == "4" and "old-emr" not in str(entry)


def test_a_bad_line_imports_nothing(coffre: Coffre, operator, log):
    text = log.read_text().splitlines()
    text.insert(2, '{"resourceType": "AuditEvent", "recorded": "soon", "type": {"code": "x"}}')
    log.write_text("\n".join(text) + "\n")
    with pytest.raises(imports.BadLines) as refused:
        imports.import_file(coffre, operator, log, Format.AUDITEVENT)
    assert refused.value.problems == [(3, "its time is not an ISO 8601 date and time")]
    assert "nothing was imported" in refused.value.message
    with coffre.reader() as uow:
        assert imports.read(uow, 0) == []
        assert (
            uow.connection.execute(sa.select(sa.func.count()).select_from(watch_imports)).scalar()
            == 0
        )
    assert entries(coffre, "watch:import:create") == []


def test_only_the_operator_imports_and_a_refusal_is_journaled(coffre: Coffre, stranger, log):
    with pytest.raises(AccessDenied):
        imports.import_file(coffre, stranger, log, Format.AUDITEVENT)
    [entry] = entries(coffre, "watch:import:create")
    assert entry.outcome == "denied" and entry.actor_id == stranger.id
    with coffre.reader() as uow:
        assert imports.read(uow, 0) == []


def test_imported_events_raise_one_alert_told_to_the_officer_and_never_contained(
    coffre: Coffre, operator, organisation, log
):
    done = imports.import_file(
        coffre, operator, log, Format.AUDITEVENT, organisation_id=organisation
    )
    drain(coffre, detector())

    with coffre.reader() as uow:
        [alert] = watch.list_alerts(uow)
        told = notify.list_notifications(uow, Recipient.SECURITY_OFFICER, organisation)
        assert imports.behind(uow) == 0
    assert alert.group_key == f"imported:{organisation}:old-emr:Practitioner/p1"
    assert alert.rule_ref == "probing"
    assert alert.positions == (done.first + 1, done.first + 2, done.last) and alert.seqs == ()
    assert alert.organisation_id == organisation
    [note] = [n for n in told if n.kind is NotificationKind.WATCH_ALERT]
    assert note.params["alert"] == alert.id
    [opened] = entries(coffre, "watch:alert:create")
    assert opened.resource_ids == (f"alert:{alert.id}",) and opened.patient_ids == ()
    assert dict(opened.facts)["source"] == "imported"
    # The rule asks to suspend the account: an imported actor is no Coffre account.
    assert entries(coffre, "identity:account:suspend") == []

    # Replayed from the start with a fresh detector, as after a crash: nothing new.
    rewind(coffre)
    drain(coffre, detector())
    with coffre.reader() as uow:
        assert [(a.id, a.positions) for a in watch.list_alerts(uow)] == [
            (alert.id, alert.positions)
        ]
    assert len(entries(coffre, "watch:alert:create")) == 1


def test_imported_and_journal_alerts_never_share_an_episode(coffre: Coffre, operator, tmp_path):
    path = tmp_path / "log.jsonl"
    rows = [
        {"time": f"2026-11-23T10:0{i}:00Z", "actor_id": "a1", "action": "records:patient:read"}
        for i in range(3)
    ]
    path.write_text("".join(json.dumps({**r, "decision": "deny"}) + "\n" for r in rows))
    done = imports.import_file(coffre, operator, path, Format.JSONL)
    positions = tuple(range(done.first, done.last + 1))
    # A journal alert of the same rule, for an actor spelt the same, on entries whose
    # sequence numbers are the imported events' positions: it is not theirs.
    [probing] = [r for r in watch.load_rules(PROBING).correlations if r.ref == "probing"]
    when = datetime(2026, 11, 23, 10, tzinfo=UTC)
    with coffre.uow() as uow:
        store_firing(
            uow,
            watch.Firing(probing, positions, ("a1",), when, when),
            organisation_id=None,
            key="a1",
            first_at=when,
            last_at=when,
        )
        uow.commit()
    drain(coffre, detector(PROBING))
    with coffre.reader() as uow:
        journal_alert, imported = watch.list_alerts(uow)
    assert (journal_alert.group_key, journal_alert.seqs) == ("a1", positions)
    assert (imported.group_key, imported.positions) == ("imported:-:log:a1", positions)
    assert imported.seqs == () and imported.organisation_id is None


LONE_READ = """
title: Imported reads
name: imported_read
logsource: {product: coffre, service: journal}
detection:
  read: {module: import, verb: read}
  condition: read
---
title: A lone read, nothing else from that actor within five minutes
name: lone_read
correlation:
  type: event_count
  rules: imported_read
  group-by: actor_id
  timespan: 5m
  condition: {lt: 2}
"""


def test_windows_judged_at_the_end_of_the_store_alert_too(coffre: Coffre, operator, tmp_path):
    path = tmp_path / "one.ndjson"
    path.write_text(json.dumps(audit_event(0, "p1")) + "\n")
    done = imports.import_file(coffre, operator, path, Format.AUDITEVENT)
    found = detector(LONE_READ)
    drain(coffre, found)  # the store's end: the detector's clock moves on to now
    with coffre.reader() as uow:
        [alert] = watch.list_alerts(uow)
    assert (alert.rule_ref, alert.group_key) == ("lone_read", "imported:-:one:Practitioner/p1")
    assert alert.positions == (done.first,)


def test_a_namesake_in_another_log_is_another_actor(
    coffre: Coffre, operator, organisation, tmp_path
):
    def add(source: str, minutes: tuple[int, ...]) -> None:
        path = tmp_path / f"{source.replace(':', '-')}-{minutes[0]}.ndjson"
        path.write_text("".join(json.dumps(audit_event(m, f"p{m}")) + "\n" for m in minutes))
        imports.import_file(
            coffre, operator, path, Format.AUDITEVENT, source=source, organisation_id=organisation
        )

    # Two refusals for Practitioner/p1 in each of two logs: three are needed in one.
    add("old-emr", (1, 2))
    add("lab:v2", (1, 2))
    drain(coffre, detector())
    with coffre.reader() as uow:
        assert watch.list_alerts(uow) == []
    # A third in the second log, all replayed: the alert names that log, not the other.
    add("lab:v2", (3,))
    rewind(coffre)
    drain(coffre, detector())
    with coffre.reader() as uow:
        [alert] = watch.list_alerts(uow)
    assert alert.group_key == f"imported:{organisation}:lab%3Av2:Practitioner/p1"
    assert len(alert.positions) == 3
