"""The engine's fast paths give what the straightforward paths give (Hypothesis oracles):
routes generated per text of the index field, regular expressions that are plain text
tests, the cache of addresses of a cidr test, and the lean adders of correlation windows."""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from coffre.watch import Detector, Firing, load_rules
from coffre.watch.correlation import Windows
from coffre.watch.values import AddressCache, regex_literal

LOGSOURCE = {"product": "coffre", "service": "journal"}
T0 = datetime(2026, 11, 23, tzinfo=UTC)


def detection(name: str, body: dict[str, Any], condition: str = "s") -> str:
    return yaml.safe_dump(
        {
            "title": name,
            "name": name,
            "logsource": LOGSOURCE,
            "detection": {**body, "condition": condition},
        }
    )


# routes per text of the index field ---------------------------------------------------------

ROUTED = load_rules(
    detection("read", {"s": {"action": "read", "decision": "allow"}}),
    detection("denied", {"s": {"action": ["read", "export"], "decision": "deny"}}),
    detection("login", {"s": {"action": "LOGIN"}}),
    detection("prefix", {"s": {"action|startswith": "re", "actor": "a"}}),
    detection("suffix", {"s": {"action|endswith": "Port"}}),
    detection("wild", {"s": {"action": "r*d?"}}),
    detection("cased", {"s": {"action|cased": "Read"}}),
    detection("regex", {"s": {"action|re": "^re"}}),
    detection("regex_i", {"s": {"action|re|i": "EX"}}),
    detection("regex_other", {"s": {"action|re": "a.$"}}),
    detection("same_as_actor", {"s": {"action|fieldref": "actor"}}),
    detection("not_login", {"s": {"action": "login"}, "t": {"actor": "b"}}, "not s and t"),
    detection("absent", {"s": {"action": None}}),
    detection("number", {"s": {"action|gt": 2}}),
    detection("anything", {"s": {"decision": "deny"}}),
    detection("keyword", {"s": ["EXP"]}),
)
ACTION = st.one_of(
    st.sampled_from(["read", "READ", "Read", "export", "Export", "login", "red!", "ra", "x"]),
    st.text("readxpotRL!", max_size=6),
    st.lists(st.sampled_from(["read", "Export", "login"]), max_size=3),
    st.none(),
    st.integers(0, 4),
)
ROUTED_EVENT = st.fixed_dictionaries(
    {},
    optional={
        "action": ACTION,
        # several rules test these: casefolded once for all, unless they hold no text
        "decision": st.one_of(
            st.sampled_from(["deny", "allow", "DENY"]),
            st.lists(st.sampled_from(["deny", "Allow"]), max_size=2),
            st.none(),
        ),
        "actor": st.sampled_from(["a", "b", "read", "Read", None, 1]),
    },
)


@settings(max_examples=300, deadline=None)
@given(event=ROUTED_EVENT)
def test_routes_per_text_find_what_trying_every_rule_finds(event: dict[str, Any]) -> None:
    assert ROUTED.index_field == "action"
    every = [rule for rule in ROUTED.detections if rule.matches(event)]
    assert ROUTED.matching(event) == every
    value = event.get("action")
    if isinstance(value, str):  # and the casefolded route, used once the routes are many
        router = ROUTED.router
        select = router.select_by_value.get(value.casefold(), router.select_others)
        assert list(select(event)) == every


def test_routes_are_generated_once_per_text() -> None:
    rules = load_rules(detection("read", {"s": {"action": "read"}}))
    event = {"action": "Read"}
    assert rules.matching(event) == list(rules.detections)
    route = rules.router.routes["Read"]
    assert rules.matching(event) == list(rules.detections)
    assert rules.router.routes["Read"] is route
    assert rules.matching({"action": "other"}) == []


# regular expressions that are text tests ----------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    source=st.text("ab:^$.*\\ |", min_size=1, max_size=5),
    text=st.text("ab:^$.*\\ |\nAB", max_size=8),
    flags=st.sampled_from([0, re.IGNORECASE, re.MULTILINE, re.DOTALL]),
)
def test_a_literal_regex_is_the_same_text_test(source: str, text: str, flags: int) -> None:
    try:
        pattern = re.compile(source, flags)
    except re.error:
        return
    literal = regex_literal(pattern)
    if literal is None:
        return
    kind, needle = literal
    found = text.startswith(needle) if kind == "prefix" else needle in text
    assert found is (pattern.search(text) is not None)


def test_literal_regexes_are_recognised() -> None:
    assert regex_literal(re.compile("^operator:")) == ("prefix", "operator:")
    assert regex_literal(re.compile("deny")) == ("contains", "deny")
    assert regex_literal(re.compile("^a.b")) is None
    assert regex_literal(re.compile("^ab", re.IGNORECASE)) is None
    assert regex_literal(re.compile("^ab", re.MULTILINE)) is None
    assert regex_literal(re.compile("ab$")) is None


def test_a_literal_regex_rule_still_tests_lists_and_numbers() -> None:
    rules = load_rules(detection("r", {"s": {"actor|re": "^op"}}))
    (rule,) = rules.detections
    assert rule.matches({"actor": "operator"}) and not rule.matches({"actor": "Operator"})
    assert rule.matches({"actor": ["x", "operator"]}) and not rule.matches({"actor": 7})


# the cache of a cidr test -------------------------------------------------------------------

ADDRESS = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
    st.sampled_from(["10.1.2.3", " 10.0.0.1 ", "nonsense", "", "192.168.1.1"]),
)


@settings(max_examples=100, deadline=None)
@given(texts=st.lists(ADDRESS, max_size=30))
def test_the_address_cache_answers_as_parsing_does(texts: list[str]) -> None:
    network = ipaddress.ip_network("10.0.0.0/8")
    cache = AddressCache(network)
    for text in texts + texts:
        try:
            inside = ipaddress.ip_address(text.strip()) in network
        except ValueError:
            inside = False
        assert cache[text] is inside


# lean adders of correlation windows ---------------------------------------------------------

SOURCES = (
    detection("a", {"s": {"action": "a"}}),
    detection("b", {"s": {"action": "b"}}),
)


def correlation(kind: str, rules: list[str], condition: dict[str, Any], group: str) -> str:
    return yaml.safe_dump(
        {
            "title": "Under test",
            "name": "under_test",
            "correlation": {
                "type": kind,
                "rules": rules,
                "group-by": group,
                "timespan": "60s",
                "condition": condition,
            },
        }
    )


CORRELATION = st.one_of(
    st.builds(
        lambda op, n, group: correlation("event_count", ["a", "b"], {op: n}, group),
        st.sampled_from(["gte", "gt"]),
        st.integers(0, 4),
        st.sampled_from(["actor", "actor.id"]),
    ),
    st.builds(
        lambda op, n, field: correlation("value_count", ["a"], {op: n, "field": field}, "actor"),
        st.sampled_from(["gte", "gt"]),
        st.integers(1, 4),
        st.sampled_from(["patient", "patient.id"]),
    ),
    st.builds(
        lambda op: correlation("temporal", ["a", "b"], {op: 2 if op == "gte" else 1}, "actor"),
        st.sampled_from(["gte", "gt"]),
    ),
)
PATIENT = st.one_of(
    st.sampled_from(["p1", "p2", "p3"]),
    st.lists(st.sampled_from(["p1", "p2", "P3", None]), max_size=3),
    st.none(),
    st.integers(1, 3),
)
STREAM_EVENT = st.fixed_dictionaries(
    {
        "second": st.integers(0, 200),
        "action": st.sampled_from(["a", "b"]),
        "actor": st.sampled_from(["x", "y", None, ["x"]]),
        "patient": PATIENT,
    }
)


def replay(rules_text: str, stream: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Every firing of the stream (roughly in time order), and the windows' size after each
    event."""
    detector = Detector(load_rules(*SOURCES, rules_text), id_field="seq")
    seen: list[tuple[Any, ...]] = []
    for seq, fields in enumerate(stream):
        event = dict(fields, seq=seq, time=T0 + timedelta(seconds=fields["second"]))
        firings: list[Firing] = detector.observe(event)
        seen.append(tuple((f.rule.ref, f.group, f.event_ids, f.start, f.end) for f in firings))
        seen.append(("held", detector.held_events))
    seen.append(tuple(detector.advance(T0 + timedelta(hours=1))))
    return seen


@settings(max_examples=200, deadline=None)
@given(
    rules_text=CORRELATION,
    stream=st.lists(STREAM_EVENT, max_size=40).map(
        lambda events: sorted(events, key=lambda e: e["second"] + (e["second"] % 7) * 3)
    ),
)
def test_lean_adders_fire_as_the_general_one(rules_text: str, stream: list[dict[str, Any]]) -> None:
    lean = replay(rules_text, stream)
    with mock.patch.object(Windows, "lean", False):
        general = replay(rules_text, stream)
    assert lean == general


# times in the journal's spelling --------------------------------------------------------------

JOURNAL_TIME = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
).map(lambda moment: moment.isoformat(timespec="microseconds")[:-6] + "Z")


def _variants(text: str) -> list[str]:
    """A time in the journal's spelling, and texts that share its minute, valid or not."""
    return [
        text,
        text[:17] + "59.999999Z",
        text[:15] + str((int(text[15]) + 1) % 10) + text[16:],  # the next minute, nearly
        text[:17] + "6" + text[18:],  # second 6x: 60 to 69
        text[:20] + "1_2345Z",
        text[:16] + "-" + text[17:],
        text[:-1] + "+",
    ]


@settings(max_examples=200, deadline=None)
@given(
    first=JOURNAL_TIME,
    second=JOURNAL_TIME,
    picks=st.lists(st.tuples(st.booleans(), st.integers(0, 6)), min_size=1, max_size=8),
)
def test_the_inline_time_reading_agrees_with_the_general_one(
    first: str, second: str, picks: list[tuple[bool, int]]
) -> None:
    # One detector reads the texts in turn: the minute not cached yet, then cached, and the
    # last one read compared in place.
    detector = Detector(load_rules(*SOURCES), time_field="time")
    general = Detector(load_rules(*SOURCES), time_field="time")
    for use_first, variant in picks:
        text = _variants(first if use_first else second)[variant]
        try:
            expected: Any = general._seconds(text)
        except Exception as exc:
            expected = type(exc)
        try:
            found: Any = detector._time_of({"time": text})
        except Exception as exc:
            found = type(exc)
        assert found == expected
