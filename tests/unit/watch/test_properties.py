"""Properties of the compiled matcher against plain Python oracles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from coffre.watch import DetectionRule, Detector, load_rules

LOGSOURCE = {"product": "coffre", "service": "journal"}
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


def compile_value(key: str, value: Any) -> DetectionRule:
    text = yaml.safe_dump(
        {
            "title": "Property",
            "logsource": LOGSOURCE,
            "detection": {"s": {key: value}, "condition": "s"},
        }
    )
    (rule,) = load_rules(text).detections
    return rule


def sigma_escape(text: str) -> str:
    """The Sigma spelling of literal text: backslash, * and ? escaped."""
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


@settings(max_examples=150, deadline=None)
@given(needle=TEXT, haystack=TEXT)
def test_contains_is_casefolded_in(needle: str, haystack: str) -> None:
    rule = compile_value("f|contains", sigma_escape(needle))
    assert rule.matches({"f": haystack}) is (needle.casefold() in haystack.casefold())


@settings(max_examples=100, deadline=None)
@given(value=TEXT, other=TEXT)
def test_equal_is_casefolded_equality(value: str, other: str) -> None:
    rule = compile_value("f", sigma_escape(value))
    assert rule.matches({"f": value + ""})
    assert rule.matches({"f": other}) is (value.casefold() == other.casefold())


def wildcard_oracle(pattern: str, text: str) -> bool:
    """Sigma wildcards by recursion: * any run, ? one character."""

    @cache
    def match(p: int, t: int) -> bool:
        if p == len(pattern):
            return t == len(text)
        if pattern[p] == "*":
            return match(p + 1, t) or (t < len(text) and match(p, t + 1))
        if t < len(text) and (pattern[p] == "?" or pattern[p] == text[t]):
            return match(p + 1, t + 1)
        return False

    return match(0, 0)


@settings(max_examples=150, deadline=None)
@given(pattern=st.text("ab*?", max_size=7), text=st.text("abAB", max_size=7))
def test_wildcards_match_like_the_oracle(pattern: str, text: str) -> None:
    rule = compile_value("f", pattern)
    assert rule.matches({"f": text}) is wildcard_oracle(pattern, text.casefold())


RULES = load_rules(
    *(
        yaml.safe_dump({"title": f"Rule {n}", "logsource": LOGSOURCE, "detection": detection})
        for n, detection in enumerate(
            [
                {"s": {"action": "read"}, "condition": "s"},
                {"s": {"action": ["read", "export"], "decision": "deny"}, "condition": "s"},
                {"s": {"action|startswith": "re"}, "condition": "s"},
                {"s": {"action": "export"}, "t": {"actor": "a"}, "condition": "s or t"},
                {"s": {"action": "login"}, "condition": "not s"},
                {"s": {"decision": "deny"}, "condition": "s"},
            ]
        )
    )
)
EVENT = st.fixed_dictionaries(
    {},
    optional={
        "action": st.one_of(
            st.sampled_from(["read", "READ", "export", "login", "other"]),
            st.lists(st.sampled_from(["read", "Export", "login"]), max_size=3),
            st.none(),
            st.integers(0, 3),
        ),
        "decision": st.sampled_from(["deny", "allow"]),
        "actor": st.sampled_from(["a", "b"]),
    },
)


@settings(max_examples=200, deadline=None)
@given(event=EVENT)
def test_routing_finds_what_trying_every_rule_finds(event: dict[str, Any]) -> None:
    assert RULES.index_field == "action"
    assert RULES.matching(event) == [rule for rule in RULES.detections if rule.matches(event)]


COUNTED = load_rules(
    yaml.safe_dump(
        {
            "title": "Denied",
            "name": "denied",
            "logsource": LOGSOURCE,
            "detection": {"s": {"decision": "deny"}, "condition": "s"},
        }
    ),
    yaml.safe_dump(
        {
            "title": "Many denied",
            "correlation": {
                "type": "event_count",
                "rules": "denied",
                "group-by": "actor",
                "timespan": "60s",
                "condition": {"gte": 3},
            },
        }
    ),
)
T0 = datetime(2026, 11, 23, tzinfo=UTC)


def brute_force_count(events: list[tuple[int, str]], needed: int, span: int) -> list[list[int]]:
    """The firings of an event_count (gte) by replay: at each event, the group's events not
    yet used by a firing and at most `span` seconds older; fire when there are enough."""
    used: set[int] = set()
    fired = []
    for index, (second, actor) in enumerate(events):
        window = [
            i
            for i, (s, a) in enumerate(events[: index + 1])
            if a == actor and i not in used and second - span <= s
        ]
        if len(window) >= needed:
            fired.append(window)
            used.update(i for i, (_, a) in enumerate(events[: index + 1]) if a == actor)
    return fired


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 400), st.sampled_from(["a", "b"])), max_size=40).map(sorted)
)
def test_event_count_equals_a_brute_force_count(events: list[tuple[int, str]]) -> None:
    detector = Detector(COUNTED, id_field="seq")
    fired = []
    for index, (second, actor) in enumerate(events):
        event = {"seq": index, "time": T0 + timedelta(seconds=second)}
        for firing in detector.observe(event | {"decision": "deny", "actor": actor}):
            fired.append(sorted(firing.event_ids))
    assert fired == brute_force_count(events, 3, 60)
    for ids in fired:  # and each firing is a real window: enough events within the timespan
        seconds = [events[i][0] for i in ids]
        assert max(seconds) - min(seconds) <= 60 and len(ids) >= 3


def step(name: str, action: str) -> str:
    return yaml.safe_dump(
        {
            "title": name,
            "name": name,
            "logsource": LOGSOURCE,
            "detection": {"s": {"action": action}, "condition": "s"},
        }
    )


ORDERED = load_rules(
    step("a", "a"),
    step("b", "b"),
    step("c", "c"),
    yaml.safe_dump(
        {
            "title": "a, b, c in order",
            "correlation": {
                "type": "temporal_ordered",
                "rules": ["a", "b", "c"],
                "group-by": "actor",
                "timespan": "60s",
            },
        }
    ),
)


def brute_force_order(events: list[tuple[int, str]], span: int) -> list[list[int]]:
    """The firings of a temporal_ordered a, b, c by replay: the window holds the events not
    yet used by a firing and at most `span` seconds older than the last; a `b` or `c` is kept
    only when an `a` is in it; fire when a, b, c appear in it in order."""
    kept: list[int] = []
    fired = []
    for index, (second, action) in enumerate(events):
        kept = [i for i in kept if second - span <= events[i][0]]
        if action != "a" and not any(events[i][1] == "a" for i in kept):
            continue
        kept.append(index)
        wanted = "abc"
        for i in kept:
            if wanted and events[i][1] == wanted[0]:
                wanted = wanted[1:]
        if not wanted:
            fired.append(kept)
            kept = []
    return fired


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 300), st.sampled_from("abc")), max_size=40).map(
        lambda events: sorted(events, key=lambda event: event[0])
    )
)
def test_temporal_ordered_equals_a_brute_force_search(events: list[tuple[int, str]]) -> None:
    detector = Detector(ORDERED, id_field="seq")
    fired = []
    for index, (second, action) in enumerate(events):
        event = {"seq": index, "time": T0 + timedelta(seconds=second), "actor": "x"}
        for firing in detector.observe(event | {"action": action}):
            fired.append(sorted(firing.event_ids))
    assert fired == brute_force_order(events, 60)
