"""The shipped rules: for each, a case that fires and a near miss that does not. Events are
built as the journal's (watch/events.py) and get the actor's profile fields as the worker
gives them (watch/profiles.py)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from coffre import watch
from coffre.watch.profiles import Profiles

MONDAY = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)  # a Monday, 10:00 UTC
READ = {"action": "records:patient:read", "module": "records", "subject": "patient", "verb": "read"}
RULES = watch.shipped_rules()
ZERO = timedelta(0)


class Replay:
    """The shipped rules over events, with profiles, as the worker runs them."""

    def __init__(self) -> None:
        self.detector = watch.Detector(RULES, id_field="seq", time_field="time")
        self.profiles = Profiles()
        self.seq = itertools.count(1)
        self.fired: list[watch.Firing] = []

    def feed(self, events: Iterable[dict[str, Any]]) -> list[str]:
        """Observe the events; return the names of the rules that fired (in order)."""
        fired = []
        for event in events:
            event = {
                "seq": next(self.seq),
                "actor_kind": "account",
                "actor_id": "dr",
                "organisation_id": "clinic",
                "session_id": "s1",
                "source_ip": "192.0.2.10",
                "purpose": "care",
                "decision": "allow",
                "outcome": "success",
                "rule": "care-relationship",
                "patient_id": [],
                "resource_id": [],
                **READ,
                **event,
            }
            event["patient_count"] = len(event["patient_id"])
            self.profiles.observe(event)
            for firing in self.detector.observe(event):
                self.fired.append(firing)
                fired.append(firing.rule.ref)
        return fired


def reads(start: datetime, patients: Iterable[int], gap: timedelta, **fields: Any):  # type: ignore[no-untyped-def]
    for n, patient in enumerate(patients):
        yield {"time": start + n * gap, "patient_id": [f"p{patient}"], **fields}


def test_every_shipped_rule_is_documented() -> None:
    docs = (Path(__file__).parents[3] / "docs" / "watch.md").read_text(encoding="utf-8")
    for rule in RULES.rules:
        assert rule.title and rule.level, rule.ref
        assert f"`{rule.ref}`" in docs, f"{rule.ref} is not in docs/watch.md"


def test_guard_stops_suspend_the_account_or_the_client() -> None:
    replay = Replay()
    stop = {
        "action": "watch:guard:stop",
        "module": "watch",
        "decision": "deny",
        "outcome": "denied",
    }
    assert replay.feed([{"time": MONDAY, **stop}]) == ["guard_stop_account"]
    assert replay.fired[-1].response is watch.Response.SUSPEND_ACCOUNT
    assert replay.feed([{"time": MONDAY, **stop, "actor_kind": "client"}]) == ["guard_stop_client"]
    assert replay.fired[-1].response is watch.Response.SUSPEND_CLIENT
    # A refusal by the care policy is not a guard stop.
    assert replay.feed([{"time": MONDAY, "decision": "deny", "outcome": "denied"}]) == []


def _usual_mondays(replay: Replay, per_hour: int, weeks: int = 4) -> None:
    """Weeks of history: `per_hour` distinct patients each Monday 10:00–11:00."""
    for week in range(weeks):
        start = MONDAY + timedelta(weeks=week)
        replay.feed(reads(start, range(per_hour), timedelta(seconds=3500 / per_hour)))


def test_many_patients_beyond_the_actor_own_normal() -> None:
    quiet, busy = Replay(), Replay()
    _usual_mondays(quiet, 5)
    _usual_mondays(busy, 60)
    # Fifth Monday: 40 distinct patients within the hour.
    monday = MONDAY + timedelta(weeks=4)
    burst = list(reads(monday, range(1000, 1040), timedelta(seconds=60)))
    assert "patients_beyond_baseline" in quiet.feed(burst)  # 40 ≥ 30 and ≥ 3 × 5
    assert "patients_beyond_baseline" not in busy.feed(burst)  # 40 < 3 × 60
    assert quiet.fired[-1].response is watch.Response.SUSPEND_SESSION
    # Under the floor, even with no history at all: nothing.
    assert "patients_beyond_baseline" not in Replay().feed(
        reads(monday, range(29), timedelta(seconds=60))
    )


def test_reads_outside_the_actor_usual_hours() -> None:
    replay = Replay()
    for day in range(21):  # three weeks of days 09:00–17:00
        start = MONDAY + timedelta(days=day, hours=-1)
        replay.feed(reads(start, range(8), timedelta(hours=1)))
    late = MONDAY + timedelta(days=21, hours=13)  # 23:00 UTC
    assert replay.feed(reads(late, [1], timedelta(0))) == ["unusual_hours"]
    usual = MONDAY + timedelta(days=22, hours=2)  # 12:00 UTC
    assert replay.feed(reads(usual, [2], timedelta(0))) == []
    # A newcomer is not judged before two weeks of history.
    assert Replay().feed(reads(late, [1], timedelta(0))) == []


def test_relatives_and_neighbours() -> None:
    replay = Replay()
    assert replay.feed([{"time": MONDAY, "patient_id": ["p1"], "fact_same_family": "true"}]) == [
        "relative_record"
    ]
    assert replay.feed(
        [{"time": MONDAY, "patient_id": ["p2"], "fact_same_address": "true", "actor_id": "b"}]
    ) == ["relative_record"]
    assert replay.feed([{"time": MONDAY, "patient_id": ["p3"], "actor_id": "c"}]) == []
    # A refused read of a relative's record is not an opening.
    refused = {"decision": "deny", "outcome": "denied", "actor_id": "d"}
    assert replay.feed([{"time": MONDAY, "fact_same_family": "true", **refused}]) == []


@pytest.mark.parametrize(
    ("flag", "fires"), [("vip", True), ("staff", True), ("vip,staff", True), ("", False)]
)
def test_flagged_records(flag: str, fires: bool) -> None:
    event = {"time": MONDAY, "patient_id": ["p1"]} | ({"fact_flag": flag} if flag else {})
    assert (Replay().feed([event]) == ["flagged_record"]) is fires
    # The operator's subject-access reads of a flagged record raise nothing.
    operator = {**event, "actor_kind": "operator", "purpose": "subject-access"}
    assert Replay().feed([operator]) == []


def test_probing() -> None:
    denied = {"decision": "deny", "outcome": "denied", "rule": "no-care-relationship"}
    replay = Replay()
    assert replay.feed(reads(MONDAY, range(9), timedelta(seconds=20), **denied)) == []
    assert replay.feed(reads(MONDAY + timedelta(minutes=3), [9], timedelta(0), **denied)) == [
        "probing"
    ]
    assert replay.fired[-1].response is watch.Response.SUSPEND_ACCOUNT
    # Ten refusals spread over an hour are not probing.
    slow = Replay()
    assert slow.feed(reads(MONDAY, range(10), timedelta(minutes=6), **denied)) == []


def test_repeated_break_the_glass() -> None:
    glass = {
        "action": "access:break-the-glass:create",
        "module": "access",
        "purpose": "break-the-glass",
    }
    assert Replay().feed(reads(MONDAY, range(3), timedelta(hours=5), **glass)) == [
        "repeated_break_the_glass"
    ]
    assert Replay().feed(reads(MONDAY, range(3), timedelta(hours=13), **glass)) == []


def test_export_volume() -> None:
    export = {"action": "records:patient:export", "verb": "export", "purpose": "subject-access"}
    assert Replay().feed(reads(MONDAY, range(20), timedelta(minutes=10), **export)) == [
        "export_volume"
    ]
    # The same patient exported twenty times is one patient.
    assert Replay().feed(reads(MONDAY, [1] * 20, timedelta(minutes=10), **export)) == []


def test_a_client_over_its_usual_volume() -> None:
    client = {"actor_kind": "client", "actor_id": "lab", "session_id": "t1"}
    steady, surge = Replay(), Replay()
    for replay, per_hour in ((steady, 80), (surge, 20)):
        for week in range(3):
            replay.feed(
                reads(
                    MONDAY + timedelta(weeks=week), range(per_hour), timedelta(seconds=40), **client
                )
            )
    monday = MONDAY + timedelta(weeks=3)
    batch = list(reads(monday, range(5000, 5120), timedelta(seconds=25), **client))
    assert "client_over_volume" in surge.feed(batch)
    assert "client_over_volume" not in steady.feed(batch)  # 120 < 3 × 80


def test_credential_stuffing() -> None:
    failed = {
        "action": "identity:session:login",
        "module": "identity",
        "decision": "deny",
        "outcome": "denied",
        "session_id": None,
    }
    many = [
        {"time": MONDAY + timedelta(seconds=n), "actor_id": f"unknown:{n:04x}", **failed}
        for n in range(10)
    ]
    assert Replay().feed(many) == ["credential_stuffing"]
    # Ten failures of one account: the throttle's business, not stuffing.
    same = [{"time": MONDAY + timedelta(seconds=n), **failed} for n in range(10)]
    assert Replay().feed(same) == []


def test_one_session_from_two_sources() -> None:
    replay = Replay()
    assert replay.feed(reads(MONDAY, range(5), timedelta(minutes=1))) == []
    assert replay.feed(
        reads(MONDAY + timedelta(minutes=6), [9], timedelta(0), source_ip="203.0.113.9")
    ) == ["session_two_sources"]
    assert replay.fired[-1].response is watch.Response.SUSPEND_SESSION
    # Two sessions of one person from two places are two sessions.
    other = Replay()
    other.feed(reads(MONDAY, [1], timedelta(0)))
    assert (
        other.feed(reads(MONDAY, [2], timedelta(0), session_id="s2", source_ip="203.0.113.9")) == []
    )


def test_a_dormant_account_suddenly_active() -> None:
    replay = Replay()
    replay.feed(reads(MONDAY, [1], timedelta(0)))
    # (59 days later the hour is unusual for this actor, but the account is not dormant.)
    assert "dormant_account" not in replay.feed(reads(MONDAY + timedelta(days=59), [2], ZERO))
    assert "dormant_account" in replay.feed(reads(MONDAY + timedelta(days=130), [3], ZERO))
