"""Sigma correlation rules over sliding windows of event time, per group."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from coffre.watch import Detector, Firing, WatchError, load_rules

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
LOGSOURCE = "logsource: {product: coffre, service: journal}"
DENIED = f"""
title: Denied read
name: denied_read
{LOGSOURCE}
detection:
  sel: {{action: records:patient:read, decision: deny}}
  condition: sel
"""
READ = f"""
title: Read
name: read
{LOGSOURCE}
detection:
  sel: {{action: records:patient:read, decision: allow}}
  condition: sel
"""


def correlation(
    kind: str, rules: str, condition: str, timespan: str = "1m", extra: str = ""
) -> str:
    return f"""
title: Under test
name: under_test
correlation:
  type: {kind}
  rules: {rules}
  group-by: actor
  timespan: {timespan}
  condition: {condition}
{extra}
"""


class Feed:
    """Events numbered from 1, at given seconds after T0."""

    def __init__(self, *texts: str) -> None:
        self.detector = Detector(load_rules(*texts), id_field="seq", time_field="time")
        self.seq = 0

    def event(self, second: float, **fields: Any) -> list[Firing]:
        self.seq += 1
        event = {"seq": self.seq, "time": T0 + timedelta(seconds=second), **fields}
        return self.detector.observe(event)

    def denied(self, second: float, actor: str = "mallory", **fields: Any) -> list[Firing]:
        return self.event(
            second, action="records:patient:read", decision="deny", actor=actor, **fields
        )

    def read(self, second: float, actor: str = "mallory", **fields: Any) -> list[Firing]:
        return self.event(
            second, action="records:patient:read", decision="allow", actor=actor, **fields
        )


def test_event_count_fires_when_the_count_is_reached_within_the_timespan() -> None:
    feed = Feed(DENIED, correlation("event_count", "denied_read", "{gte: 3}"))
    assert feed.denied(0) == []
    assert feed.denied(20) == []
    (firing,) = feed.denied(40)
    assert firing.rule.ref == "under_test"
    assert firing.group == ("mallory",) and firing.grouped_by == {"actor": "mallory"}
    assert firing.event_ids == (1, 2, 3)
    assert (firing.start, firing.end) == (T0, T0 + timedelta(seconds=40))


def test_event_count_spread_out_never_fires() -> None:
    feed = Feed(DENIED, correlation("event_count", "denied_read", "{gte: 3}"))
    assert [f for second in range(0, 600, 31) for f in feed.denied(second)] == []


def test_event_count_window_includes_its_edge() -> None:
    feed = Feed(DENIED, correlation("event_count", "denied_read", "{gte: 3}"))
    feed.denied(0), feed.denied(30)
    assert len(feed.denied(60)) == 1
    feed = Feed(DENIED, correlation("event_count", "denied_read", "{gte: 3}"))
    feed.denied(0), feed.denied(30)
    assert feed.denied(60.001) == []


def test_a_firing_starts_the_window_afresh() -> None:
    feed = Feed(DENIED, correlation("event_count", "denied_read", "{gt: 2}"))
    fired = [firing for second in range(6) for firing in feed.denied(second)]
    assert [firing.event_ids for firing in fired] == [(1, 2, 3), (4, 5, 6)]


def test_groups_are_counted_apart() -> None:
    feed = Feed(DENIED, correlation("event_count", "denied_read", "{gte: 3}"))
    for second, actor in enumerate(["alice", "bob", "alice", "bob"]):
        assert feed.denied(second, actor=actor) == []
    (firing,) = feed.denied(5, actor="bob")
    assert firing.group == ("bob",) and firing.event_ids == (2, 4, 5)


def test_events_the_rule_does_not_match_are_not_counted() -> None:
    feed = Feed(DENIED, READ, correlation("event_count", "denied_read", "{gte: 2}"))
    feed.denied(0)
    assert [f.rule.ref for f in feed.read(1)] == ["read"]  # reported on its own
    assert [f.rule.ref for f in feed.denied(2)] == ["under_test"]


def test_value_count_counts_distinct_values() -> None:
    rule = correlation("value_count", "read", "{gte: 3, field: patient}")
    feed = Feed(READ, rule)
    for second in range(10):
        assert feed.read(second, patient="p1") == []
    assert feed.read(10, patient="p2") == []
    (firing,) = feed.read(11, patient="p3")
    assert firing.event_ids == tuple(range(1, 13))


def test_value_count_counts_each_element_of_a_list() -> None:
    feed = Feed(READ, correlation("value_count", "read", "{gt: 3, field: patients}"))
    assert feed.read(0, patients=["p1", "p2"]) == []
    assert feed.read(1, patients=["p2", "p3"]) == []
    assert feed.read(2) == []  # no patients: nothing to count
    assert len(feed.read(3, patients=["p4"])) == 1


def test_value_count_forgets_values_older_than_the_timespan() -> None:
    feed = Feed(READ, correlation("value_count", "read", "{gte: 3, field: patient}"))
    feed.read(0, patient="p1"), feed.read(50, patient="p2")
    assert feed.read(70, patient="p3") == []  # p1 has left the window
    assert len(feed.read(80, patient="p4")) == 1


def test_temporal_fires_when_every_rule_matched_within_the_timespan() -> None:
    feed = Feed(DENIED, READ, correlation("temporal", "[denied_read, read]", "{gte: 2}", "5m"))
    assert feed.read(0) == []  # read only feeds the correlation (no generate)
    assert feed.read(10) == []
    assert feed.denied(20, actor="someone-else") == []
    (firing,) = feed.denied(30)
    assert firing.event_ids == (1, 2, 4)


def test_temporal_needs_both_within_the_timespan() -> None:
    feed = Feed(DENIED, READ, correlation("temporal", "[denied_read, read]", "{gte: 2}", "5m"))
    feed.read(0)
    assert feed.denied(301) == []


def test_temporal_default_condition_is_every_rule() -> None:
    text = correlation("temporal", "[denied_read, read]", "{gte: 2}").replace(
        "  condition: {gte: 2}\n", ""
    )
    feed = Feed(DENIED, READ, text)
    assert feed.read(0) == []
    assert len(feed.denied(1)) == 1


def test_temporal_ordered_needs_the_order() -> None:
    rule = correlation("temporal_ordered", "[denied_read, read]", "{gte: 2}", "5m")
    feed = Feed(DENIED, READ, rule)
    assert feed.read(0) == []  # a read before any denial: not kept
    assert feed.denied(1) == []
    (firing,) = feed.read(2)
    assert firing.event_ids == (2, 3)


def test_correlation_of_a_correlation() -> None:
    login_failed = f"""
title: Login failed
name: login_failed
{LOGSOURCE}
detection:
  sel: {{action: identity:session:login, outcome: failed}}
  condition: sel
"""
    login = f"""
title: Login
name: login_ok
{LOGSOURCE}
detection:
  sel: {{action: identity:session:login, outcome: success}}
  condition: sel
"""
    many = correlation("event_count", "login_failed", "{gte: 3}").replace("under_test", "many")
    stuffing = """
title: Failures then a success
name: stuffing
coffre: {response: suspend-account}
correlation:
  type: temporal_ordered
  rules: [many, login_ok]
  group-by: actor
  timespan: 10m
"""
    feed = Feed(login_failed, login, many, stuffing)

    def attempt(second: float, outcome: str) -> list[Firing]:
        return feed.event(second, action="identity:session:login", outcome=outcome, actor="bob")

    assert attempt(0, "failed") == [] and attempt(1, "failed") == []
    assert attempt(2, "failed") == []  # `many` fires, but only to feed `stuffing`
    (firing,) = attempt(100, "success")
    assert firing.rule.ref == "stuffing" and firing.response == "suspend-account"
    assert firing.event_ids == (1, 2, 3, 4) and firing.group == ("bob",)


def test_aliases_group_different_fields() -> None:
    shared = f"""
title: Record shared
name: shared
{LOGSOURCE}
detection:
  sel: {{action: records:record:share}}
  condition: sel
"""
    rule = """
title: Read what was shared with you
correlation:
  type: temporal_ordered
  rules: [shared, read]
  group-by: person
  timespan: 1h
  aliases:
    person:
      shared: recipient
      read: actor
"""
    feed = Feed(shared, READ, rule)
    assert feed.event(0, action="records:record:share", actor="eve", recipient="bob") == []
    assert feed.read(10, actor="carol") == []
    (firing,) = feed.read(20, actor="bob")
    assert firing.group == ("bob",) and firing.event_ids == (1, 3)


def test_lt_is_judged_when_the_window_closes() -> None:
    feed = Feed(READ, correlation("event_count", "read", "{lt: 3}"))
    assert feed.read(0) == [] and feed.read(10) == []
    assert feed.detector.advance(T0 + timedelta(seconds=60)) == []  # still open at its end
    (firing,) = feed.detector.advance(T0 + timedelta(seconds=61))
    assert firing.event_ids == (1, 2)
    feed.read(100), feed.read(101), feed.read(102)
    assert feed.detector.advance(T0 + timedelta(hours=1)) == []


def test_eq_and_lte_are_judged_over_the_whole_window() -> None:
    feed = Feed(READ, correlation("event_count", "read", "{eq: 2}"))
    feed.read(0), feed.read(5)
    (firing,) = feed.read(200)  # a later event moves the clock past the window's end
    assert firing.event_ids == (1, 2)
    feed = Feed(READ, correlation("value_count", "read", "{lte: 1, field: patient}"))
    feed.read(0, patient="p1"), feed.read(5, patient="p1"), feed.read(5, actor="x", patient="p1")
    fired = feed.detector.advance(T0 + timedelta(minutes=5))
    assert sorted(f.group for f in fired) == [("mallory",), ("x",)]


def test_state_is_bounded_by_the_timespan() -> None:
    feed = Feed(DENIED, correlation("event_count", "denied_read", "{gte: 1000}"))
    for second in range(2_000):
        feed.denied(second, actor=f"actor-{second % 97}")
        assert feed.detector.held_events <= 61
    feed.detector.advance(T0 + timedelta(seconds=2_061))
    assert feed.detector.held_events == 0


def test_quiet_groups_are_forgotten_as_time_moves() -> None:
    feed = Feed(DENIED, READ, correlation("event_count", "denied_read", "{gte: 1000}"))
    for number in range(500):
        feed.denied(0, actor=f"actor-{number}")
    assert feed.detector.held_events == 500
    feed.read(30)  # matches no rule a correlation refers to: the clock does not move
    assert feed.detector.held_events == 500
    feed.denied(61, actor="late")
    assert feed.detector.held_events == 1


def test_distinct_values_are_counted_out_as_their_matches_leave() -> None:
    feed = Feed(READ, correlation("value_count", "read", "{gte: 3, field: patient}"))
    for second, patient in [(0, "p1"), (1, "p1"), (2, "p1"), (3, "p2"), (50, "p1")]:
        assert feed.read(second, patient=patient) == []  # counted from the third on
    assert feed.read(64, patient="p3") == []  # the first four left: p1 and p3 are in
    (firing,) = feed.read(65, patient=["p4"])
    assert firing.event_ids == (5, 6, 7)


def test_a_late_group_is_forgotten_within_two_timespans() -> None:
    feed = Feed(DENIED, correlation("event_count", "denied_read", "{gte: 1000}"))
    feed.denied(100, actor="early")
    feed.denied(10, actor="late")  # behind the clock: looked at with the last one queued
    assert feed.detector.held_events == 2
    feed.detector.advance(T0 + timedelta(seconds=161))
    assert feed.detector.held_events == 0


def test_a_later_rule_emptying_its_window_ends_the_group() -> None:
    feed = Feed(
        DENIED, READ, correlation("temporal_ordered", "[denied_read, read]", "{gte: 2}", "2m")
    )
    feed.denied(100, actor="someone")
    feed.denied(0)  # late: its group is looked at again only at 220
    assert feed.read(130) == []  # the denial is too old: nothing left of the window
    assert feed.read(131) == []
    feed.denied(140)
    (firing,) = feed.read(150)
    assert firing.event_ids == (5, 6)


def test_a_late_event_within_the_window_counts_and_a_stale_one_does_not() -> None:
    feed = Feed(DENIED, correlation("event_count", "denied_read", "{gte: 3}"))
    feed.denied(100), feed.denied(110)
    assert feed.denied(20) == []  # older than the window of the newest: dropped
    (firing,) = feed.denied(105)
    assert firing.event_ids == (1, 4, 2)  # in time order
    assert firing.start == T0 + timedelta(seconds=100)


@pytest.mark.parametrize(
    ("time", "says"),
    [
        (None, "no time"),
        ("yesterday", "not an ISO 8601 time"),
        (datetime(2026, 11, 23, 9), "without a time zone"),
        ("2026-11-23T09:00:00", "without a time zone"),
    ],
)
def test_unusable_time_is_refused(time: Any, says: str) -> None:
    detector = Detector(load_rules(DENIED, correlation("event_count", "denied_read", "{gte: 2}")))
    event = {"seq": 1, "action": "records:patient:read", "decision": "deny", "actor": "a"}
    if time is not None:
        event["time"] = time
    with pytest.raises(WatchError, match=says):
        detector.observe(event)


def test_iso_text_times_are_read() -> None:
    detector = Detector(load_rules(DENIED, correlation("event_count", "denied_read", "{gte: 2}")))
    base = {"action": "records:patient:read", "decision": "deny", "actor": "a"}
    assert detector.observe({"seq": 7, "time": "2026-11-23T09:00:00.000000Z", **base}) == []
    (firing,) = detector.observe({"seq": 8, "time": "2026-11-23T10:00:30+01:00", **base})
    assert firing.event_ids == (7, 8) and firing.end == T0 + timedelta(seconds=30)
    assert detector.clock == T0 + timedelta(seconds=30)


def test_detection_without_correlation_needs_no_time() -> None:
    detector = Detector(load_rules(DENIED), id_field="id")
    (firing,) = detector.observe({"id": "e1", "action": "records:patient:read", "decision": "deny"})
    assert firing.event_ids == ("e1",) and firing.group == () and firing.start is None


ECS_DENIED = f"""
title: Denied, in ECS names
name: ecs_denied
{LOGSOURCE}
detection:
  sel: {{event.action: records:patient:read, event.outcome: denied, source.ip|cidr: 10.0.0.0/8}}
  condition: sel
---
title: Many sources for one user
correlation:
  type: value_count
  rules: ecs_denied
  group-by: [user.id]
  timespan: 1m
  condition: {{gte: 2, field: client.ip}}
"""


def test_rules_may_name_the_journals_fields_by_their_ecs_names() -> None:
    rules = load_rules(ECS_DENIED)
    [detection] = rules.detections
    assert detection.required.keys() >= {"action", "outcome"}  # read as the journal's own
    assert rules.correlations[0].group_by == ("actor_id",)
    feed = Feed(ECS_DENIED)
    denied = {"action": "records:patient:read", "outcome": "denied", "actor_id": "mallory"}
    assert feed.event(0, **denied, source_ip="10.1.2.3") == []
    # Outside source.ip's cidr: not a match, so not a second source.
    assert feed.event(1, **denied, source_ip="192.0.2.1") == []
    [fired] = feed.event(2, **denied, source_ip="10.9.9.9")
    assert (fired.rule.title, fired.group) == ("Many sources for one user", ("mallory",))
    assert fired.event_ids == (1, 3)
