"""Imported actors' profiles: other systems' events, read as an import reads them, teach
profiles of their own (keyed by the import's organisation and source, apart from Coffre's
actors) by the same code as the journal's, so the shipped baseline, unusual-hours and
dormant-account rules fire on them too."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from coffre import watch
from coffre.watch import profiles as profiles_module
from coffre.watch.formats import Pseudonyms, auditevent_fields, event_of
from coffre.watch.profiles import KEY_LENGTH, Profiles, actor_key, imported_scope

MONDAY = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)  # a Monday, 10:00 UTC
RULES = watch.shipped_rules()
PSEUDONYMS = Pseudonyms(b"k" * 32)
OLD_EMR = imported_scope("clinic", "old-emr")


def audit_event(when: datetime, patient: str | None, who: str = "jdupont") -> dict[str, Any]:
    """A successful read in another system's log, as that system's FHIR export writes it."""
    entities = [{"what": {"reference": f"Patient/{patient}"}}] if patient else []
    return {
        "resourceType": "AuditEvent",
        "type": {"code": "rest"},
        "subtype": [{"code": "read"}],
        "action": "R",
        "recorded": when.isoformat(),
        "outcome": "0",
        "agent": [{"who": {"identifier": {"value": who}}, "requestor": True}],
        "entity": entities,
    }


class Imported:
    """The shipped rules over imported events, with profiles, as `run_imports_once` runs
    them (alerts aside)."""

    def __init__(self, scope: str = OLD_EMR) -> None:
        self.detector = watch.Detector(RULES, id_field="seq", time_field="time")
        self.profiles = Profiles()
        self.scope = scope
        self.seq = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def feed(self, resources: Iterable[dict[str, Any]]) -> list[str]:
        fired = []
        for resource in resources:
            event = event_of(auditevent_fields(resource), PSEUDONYMS)
            event["seq"] = next(self.seq)
            self.profiles.observe(event, self.scope)
            self.events.append(event)
            fired.extend(f.rule.ref for f in self.detector.observe(event))
        return fired


def reads(start: datetime, patients: Iterable[int], gap: timedelta, **kw: Any):  # type: ignore[no-untyped-def]
    for n, patient in enumerate(patients):
        yield audit_event(start + n * gap, f"p{patient}", **kw)


def _usual_mondays(replay: Imported, weeks: int = 4) -> None:
    """Weeks of history: five distinct patients each Monday between 10:00 and 11:00."""
    for week in range(weeks):
        start = MONDAY + timedelta(weeks=week)
        assert replay.feed(reads(start, range(5), timedelta(minutes=11))) == []


def test_an_imported_reader_far_beyond_their_own_normal_fires_the_baseline_rule() -> None:
    quiet, busy = Imported(), Imported()
    _usual_mondays(quiet)
    for week in range(4):  # the same hour, sixty patients each week
        busy.feed(reads(MONDAY + timedelta(weeks=week), range(60), timedelta(seconds=58)))
    burst = list(reads(MONDAY + timedelta(weeks=4), range(100, 140), timedelta(minutes=1)))
    assert "patients_beyond_baseline" in quiet.feed(burst)  # 40 ≥ 30 and ≥ 3 × 5
    assert "patients_beyond_baseline" not in busy.feed(burst)  # 40 < 3 × 60
    last = quiet.events[-1]
    assert last["actor_patients_hour"] == 40 and last["actor_patients_ratio"] >= 3
    assert last["actor_kind"] == "account" and last["module"] == "import"


def test_an_imported_reader_at_an_unusual_hour_fires_the_unusual_hours_rule() -> None:
    replay = Imported()
    for day in range(21):  # three weeks of days 09:00–17:00
        start = MONDAY + timedelta(days=day, hours=-1)
        replay.feed(reads(start, range(8), timedelta(hours=1)))
    late = MONDAY + timedelta(days=21, hours=13)  # 23:00 UTC
    assert replay.feed([audit_event(late, "p1")]) == ["unusual_hours"]
    # Usual hours, and an event naming no patient at an unusual one: nothing.
    assert replay.feed([audit_event(late + timedelta(hours=13), "p2")]) == []
    assert replay.feed([audit_event(late + timedelta(days=1), None)]) == []


def test_an_imported_actor_idle_for_sixty_days_fires_the_dormant_rule() -> None:
    replay = Imported()
    replay.feed([audit_event(MONDAY, "p1")])
    assert "dormant_account" not in replay.feed([audit_event(MONDAY + timedelta(days=59), "p2")])
    assert "dormant_account" in replay.feed([audit_event(MONDAY + timedelta(days=130), "p3")])
    assert replay.events[-1]["actor_idle_days"] == 71.0


def test_a_coffre_account_and_an_imported_actor_spelt_alike_share_no_profile() -> None:
    profiles = Profiles()
    coffre_event = {
        "time": MONDAY,
        "actor_kind": "account",
        "actor_id": "jdupont",
        "decision": "allow",
        "module": "records",
        "patient_id": ["p1"],
    }
    profiles.observe(coffre_event)
    later = audit_event(MONDAY + timedelta(days=90), "p1")
    imported = event_of(auditevent_fields(later), PSEUDONYMS)
    profiles.observe(imported, OLD_EMR)
    assert imported["actor_id"] == coffre_event["actor_id"] == "jdupont"
    # New to its own profile, though Coffre's jdupont was seen 90 days before.
    assert imported["actor_idle_days"] == 0 and imported["actor_known_days"] == 0
    assert actor_key(coffre_event) == "account:jdupont"
    assert actor_key(imported, OLD_EMR) == "imported:clinic:old-emr:account:jdupont"
    # Nor do the same name in the logs of two sources, or of two organisations.
    assert len({OLD_EMR, imported_scope("clinic", "lab"), imported_scope(None, "old-emr")}) == 3


def test_a_colon_in_a_source_name_cannot_pass_for_another_source_or_actor() -> None:
    tricky = {"actor_kind": "account", "actor_id": "x"}
    plain = {"actor_kind": "account", "actor_id": "account:x"}
    assert actor_key(tricky, imported_scope("c", "a:account")) != actor_key(
        plain, imported_scope("c", "a")
    )
    assert imported_scope("c", "50%:x") == "imported:c:50%25%3Ax:"


organisations = st.none() | st.uuids().map(str)
names = st.text(max_size=12)


@given(
    st.tuples(organisations, names, st.sampled_from(["account", "client"]), names),
    st.tuples(organisations, names, st.sampled_from(["account", "client"]), names),
)
def test_two_imported_actors_share_a_profile_key_only_when_they_are_the_same(
    one: tuple[str | None, str, str, str], other: tuple[str | None, str, str, str]
) -> None:
    def key(org: str | None, source: str, kind: str, actor: str) -> str | None:
        return actor_key({"actor_kind": kind, "actor_id": actor}, imported_scope(org, source))

    if key(*one) is not None and key(*other) is not None:
        assert (key(*one) == key(*other)) == (one == other)


def test_an_imported_actor_key_too_long_for_the_table_is_hashed() -> None:
    event = {"actor_kind": "account", "actor_id": "x" * 500}
    key = actor_key(event, OLD_EMR)
    assert key is not None and len(key) <= KEY_LENGTH and key.startswith("imported:sha256:")
    assert key == actor_key(dict(event), OLD_EMR) != actor_key({**event, "actor_id": "y"}, OLD_EMR)


def test_only_allowed_imported_events_teach_and_coffre_itself_has_no_profile() -> None:
    profiles = Profiles()
    refused = {**audit_event(MONDAY, "p1"), "outcome": "4"}
    event = event_of(auditevent_fields(refused), PSEUDONYMS)
    profiles.observe(event, OLD_EMR)
    assert "actor_idle_days" not in event  # a refusal creates no profile
    system = {"time": MONDAY, "actor_kind": "system", "actor_id": "coffre", "decision": "allow"}
    assert actor_key(system, OLD_EMR) is None


def test_an_older_log_imported_after_a_newer_one_neither_teaches_nor_is_judged() -> None:
    replay = Imported()
    replay.feed([audit_event(MONDAY + timedelta(days=100), "p1")])
    older = [audit_event(MONDAY, "p2")]
    assert replay.feed(older) == []
    assert "actor_idle_days" not in replay.events[-1]
    # A little out of order (within the hour) is counted as usual.
    replay.feed([audit_event(MONDAY + timedelta(days=100, minutes=-20), "p3")])
    assert replay.events[-1]["actor_patients_hour"] == 2


class _Recording:
    """A unit of work whose connection records what is executed."""

    def __init__(self) -> None:
        self.executed: list[Any] = []
        self.connection = self

    def execute(self, *statement: Any) -> None:
        self.executed.append(statement)


def test_profiles_held_in_memory_are_dropped_once_saved_past_the_limit(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(profiles_module, "KEPT", 2)
    replay = Imported()
    for who in ("a", "b", "c"):
        replay.feed([audit_event(MONDAY, "p1", who=who)])
    uow = _Recording()
    replay.profiles.save(uow)  # type: ignore[arg-type]
    assert uow.executed  # written first…
    # …then dropped: the next event of "a" finds nothing held (it would be read back).
    replay.feed([audit_event(MONDAY + timedelta(days=70), "p2", who="a")])
    assert replay.events[-1]["actor_known_days"] == 0
