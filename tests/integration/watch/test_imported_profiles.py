"""Imported actors' profiles end to end: an import's actors get profiles of their own, saved
with each imported batch and its cursor, read back after a restart, never mixed with Coffre's
actors; the shipped baseline rule fires on the imported stream, and is only told."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from careworld import World, build_world
from coffre import journal, records, watch
from coffre.access import Purpose
from coffre.bootstrap import Coffre
from coffre.watch import follow, imports, worker
from coffre.watch.formats import Format
from coffre.watch.profiles import Profile, Profiles
from coffre.watch.tables import watch_profiles

MONDAY = datetime(2026, 10, 5, 10, 0, tzinfo=UTC)  # a Monday, 10:00 UTC, weeks ago


def audit_event(when: datetime, patient: str, who: str = "jdupont") -> dict[str, Any]:
    return {
        "resourceType": "AuditEvent",
        "type": {"code": "rest"},
        "subtype": [{"code": "read"}],
        "action": "R",
        "recorded": when.isoformat(),
        "outcome": "0",
        "agent": [
            {
                "who": {"identifier": {"value": who}, "display": "Dr Jean Dupont"},
                "requestor": True,
                "policy": ["urn:uuid:sess-1"],
            }
        ],
        "entity": [{"what": {"reference": f"Patient/{patient}", "display": "Marie Curie"}}],
    }


def write_log(path: Path, resources: Iterable[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in resources))
    return path


def history(weeks: int = 4, who: str = "jdupont") -> list[dict[str, Any]]:
    """Weeks of a quiet normal: five distinct patients each Monday between 10:00 and 11:00."""
    return [
        audit_event(MONDAY + timedelta(weeks=week, minutes=11 * n), f"h{week}-{n}", who)
        for week in range(weeks)
        for n in range(5)
    ]


def burst(start: datetime, count: int = 40) -> list[dict[str, Any]]:
    return [audit_event(start + timedelta(minutes=n), f"b{n}") for n in range(count)]


def drain(coffre: Coffre, detector: imports.SourceDetectors, profiles: Profiles | None) -> None:
    while imports.run_imports_once(coffre, detector, batch=7, profiles=profiles):
        pass


def shipped() -> imports.SourceDetectors:
    return imports.SourceDetectors(watch.shipped_rules())


def profile_rows(coffre: Coffre) -> dict[str, Profile]:
    with coffre.reader() as uow:
        rows = uow.connection.execute(sa.select(watch_profiles.c.actor_key, watch_profiles.c.state))
        return {key: Profile.from_json(state) for key, state in rows}


def entries(coffre: Coffre, action: str) -> list[journal.Record]:
    with coffre.reader() as uow:
        found = journal.select_records(uow, journal.Filter(from_seq=0), limit=100_000)
        return [e for e in found if e.action == action]


def test_a_burst_beyond_an_imported_actor_own_normal_is_alerted_after_a_restart(
    coffre: Coffre, operator, organisation, tmp_path
):
    log = write_log(tmp_path / "history.ndjson", history())
    imports.import_file(
        coffre, operator, log, Format.AUDITEVENT, source="old-emr", organisation_id=organisation
    )
    drain(coffre, shipped(), Profiles())
    key = f"imported:{organisation}:old-emr:account:jdupont"
    assert set(profile_rows(coffre)) == {key}
    with coffre.reader() as uow:
        assert watch.list_alerts(uow) == []

    # A later import, followed by a restarted watch: the profile is read back from the table.
    later = write_log(tmp_path / "today.ndjson", burst(MONDAY + timedelta(weeks=4)))
    done = imports.import_file(
        coffre, operator, later, Format.AUDITEVENT, source="old-emr", organisation_id=organisation
    )
    drain(coffre, shipped(), Profiles())
    with coffre.reader() as uow:
        [alert] = watch.list_alerts(uow)
    assert alert.rule_ref == "patients_beyond_baseline"
    assert alert.group_key == f"imported:{organisation}:old-emr:jdupont"
    assert alert.organisation_id == organisation and alert.seqs == ()
    # From the 30th distinct patient within the hour on, one episode.
    assert alert.positions == tuple(range(done.first + 29, done.last + 1))
    # The rule asks to cut the session: an imported actor has none in Coffre; it is told.
    assert entries(coffre, "identity:session:suspend") == []
    assert entries(coffre, "identity:token:suspend") == []
    [profile] = profile_rows(coffre).values()
    assert profile.first_seen == MONDAY.timestamp()


def test_without_profiles_the_baseline_rule_stays_silent(
    coffre: Coffre, operator, organisation, tmp_path
):
    log = write_log(tmp_path / "all.ndjson", history() + burst(MONDAY + timedelta(weeks=4)))
    imports.import_file(coffre, operator, log, Format.AUDITEVENT, organisation_id=organisation)
    drain(coffre, shipped(), None)
    with coffre.reader() as uow:
        assert watch.list_alerts(uow) == []
    assert profile_rows(coffre) == {}


def test_imported_profiles_roll_back_with_the_imported_cursor(
    coffre: Coffre, operator, organisation, tmp_path, monkeypatch
):
    log = write_log(tmp_path / "history.ndjson", history(weeks=1))
    imports.import_file(coffre, operator, log, Format.AUDITEVENT, organisation_id=organisation)
    saved = Profiles.save

    def save_then_fail(self: Profiles, uow: Any, now: Any = None) -> None:
        saved(self, uow, now)
        raise OSError("database gone")

    monkeypatch.setattr(Profiles, "save", save_then_fail)
    with pytest.raises(OSError, match="database gone"):
        imports.run_imports_once(coffre, shipped(), profiles=Profiles())
    with coffre.reader() as uow:
        assert follow.position(uow, imports.READER) == 0
    assert profile_rows(coffre) == {}


def test_a_coffre_account_and_an_imported_actor_with_its_id_share_no_profile(
    coffre: Coffre, operator, organisation, tmp_path
):
    world: World = build_world(coffre)
    records.read_patient(
        coffre.uow(), coffre.vault, world.physician, world.patient_id, Purpose.CARE
    )
    journal_detector = watch.Detector(watch.shipped_rules(), id_field="seq", time_field="time")
    while worker.run_once(coffre, journal_detector, profiles=Profiles()):
        pass
    # Another system's log names an actor spelt as the physician's Coffre id, months ago.
    same = world.physician.id
    log = write_log(tmp_path / "old.ndjson", history(weeks=1, who=same))
    imports.import_file(
        coffre, operator, log, Format.AUDITEVENT, source="old-emr", organisation_id=organisation
    )
    drain(coffre, shipped(), Profiles())
    found = profile_rows(coffre)
    mine = found[f"account:{same}"]
    theirs = found[f"imported:{organisation}:old-emr:account:{same}"]
    assert theirs.first_seen == MONDAY.timestamp() < mine.first_seen
    assert theirs.last_seen < mine.first_seen  # the journal's profile learnt nothing of it
