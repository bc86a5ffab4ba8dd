"""Sigma detection rules compiled to predicates: every modifier and condition form, each with
an event that matches and one that does not."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
import yaml

from coffre.watch import DetectionRule, RuleError, load_rules


def compile_detection(detection: dict[str, Any], title: str = "Under test") -> DetectionRule:
    text = yaml.safe_dump(
        {
            "title": title,
            "logsource": {"product": "coffre", "service": "journal"},
            "detection": detection,
        }
    )
    (rule,) = load_rules(text).detections
    return rule


def selection(**fields: Any) -> dict[str, Any]:
    return {"sel": fields, "condition": "sel"}


READ = "records:patient:read"

# (what, detection, event, matches)
CASES: list[tuple[str, dict[str, Any], dict[str, Any], bool]] = [
    ("equal", selection(action=READ), {"action": READ}, True),
    ("equal, other value", selection(action=READ), {"action": "records:patient:export"}, False),
    ("equal, field absent", selection(action=READ), {"actor": "a"}, False),
    ("equal ignores case", selection(action="Records:PATIENT:read"), {"action": READ}, True),
    ("event case ignored", selection(action=READ), {"action": "RECORDS:Patient:READ"}, True),
    ("list is OR", selection(decision=["deny", "error"]), {"decision": "Error"}, True),
    ("list is OR, none", selection(decision=["deny", "error"]), {"decision": "allow"}, False),
    ("fields are AND", selection(action=READ, decision="deny"), {"action": READ}, False),
    (
        "fields are AND, both",
        selection(action=READ, decision="deny"),
        {"action": READ, "decision": "deny"},
        True,
    ),
    ("contains", selection(**{"why|contains": "EMERGENCY"}), {"why": "an emergency read"}, True),
    ("contains, no", selection(**{"why|contains": "emergency"}), {"why": "a planned read"}, False),
    ("startswith", selection(**{"action|startswith": "records:"}), {"action": READ}, True),
    ("startswith, no", selection(**{"action|startswith": "patient"}), {"action": READ}, False),
    ("endswith", selection(**{"action|endswith": ":READ"}), {"action": READ}, True),
    ("endswith, no", selection(**{"action|endswith": ":export"}), {"action": READ}, False),
    (
        "contains all",
        selection(**{"why|contains|all": ["consent", "nurse"]}),
        {"why": "Consent and a relationship allow a nurse"},
        True,
    ),
    (
        "contains all, one missing",
        selection(**{"why|contains|all": ["consent", "nurse"]}),
        {"why": "consent allows a physician"},
        False,
    ),
    ("wildcard *", selection(action="records:*:read"), {"action": READ}, True),
    ("wildcard *, no", selection(action="records:*:read"), {"action": "records:x:export"}, False),
    ("wildcard ?", selection(code="a?c"), {"code": "aXc"}, True),
    ("wildcard ? is one character", selection(code="a?c"), {"code": "aXXc"}, False),
    ("escaped * is literal", selection(code="a\\*c"), {"code": "a*c"}, True),
    ("escaped * is not a wildcard", selection(code="a\\*c"), {"code": "abc"}, False),
    ("escaped ? is literal", selection(code="why\\?"), {"code": "why?"}, True),
    ("escaped ? is not a wildcard", selection(code="why\\?"), {"code": "whyX"}, False),
    ("plain backslash", selection(path="C:\\Data\\x"), {"path": "c:\\data\\X"}, True),
    ("escaped backslash", selection(path="a\\\\*"), {"path": "a\\b"}, True),
    ("escaped backslash, no", selection(path="a\\\\*"), {"path": "ab"}, False),
    ("re searches", selection(**{"actor|re": "^op[a-z]+:"}), {"actor": "operator:ana"}, True),
    ("re is case-sensitive", selection(**{"actor|re": "^op"}), {"actor": "OPERATOR"}, False),
    ("re i flag", selection(**{"actor|re|i": "^op"}), {"actor": "OPERATOR"}, True),
    ("re m flag", selection(**{"why|re|m": "^second$"}), {"why": "first\nsecond"}, True),
    ("re without m", selection(**{"why|re": "^second$"}), {"why": "first\nsecond"}, False),
    ("re s flag", selection(**{"why|re|s": "first.second"}), {"why": "first\nsecond"}, True),
    ("re without s", selection(**{"why|re": "first.second"}), {"why": "first\nsecond"}, False),
    ("cidr", selection(**{"source|cidr": "10.0.0.0/8"}), {"source": "10.20.30.40"}, True),
    ("cidr, outside", selection(**{"source|cidr": "10.0.0.0/8"}), {"source": "11.0.0.1"}, False),
    ("cidr, not an address", selection(**{"source|cidr": "10.0.0.0/8"}), {"source": "cli"}, False),
    ("cidr v6", selection(**{"source|cidr": "2001:db8::/32"}), {"source": "2001:db8::1"}, True),
    (
        "cidr, address object",
        selection(**{"source|cidr": "192.0.2.0/24"}),
        {"source": ipaddress.ip_address("192.0.2.7")},
        True,
    ),
    ("exists", selection(**{"session|exists": True}), {"session": None}, True),
    ("exists, absent", selection(**{"session|exists": True}), {"actor": "a"}, False),
    ("not exists", selection(**{"session|exists": False}), {"actor": "a"}, True),
    ("not exists, present", selection(**{"session|exists": False}), {"session": "s"}, False),
    ("gt", selection(**{"results|gt": 100}), {"results": 101}, True),
    ("gt, equal", selection(**{"results|gt": 100}), {"results": 100}, False),
    ("gte", selection(**{"results|gte": 100}), {"results": 100}, True),
    ("gte, below", selection(**{"results|gte": 100}), {"results": 99.5}, False),
    ("lt", selection(**{"results|lt": 5}), {"results": "4"}, True),
    ("lt, equal", selection(**{"results|lt": 5}), {"results": 5}, False),
    ("lte", selection(**{"results|lte": 5}), {"results": 5.0}, True),
    ("lte, above", selection(**{"results|lte": 5}), {"results": 6}, False),
    ("compare, not a number", selection(**{"results|gt": 1}), {"results": "many"}, False),
    ("compare, boolean", selection(**{"results|gt": 0}), {"results": True}, False),
    ("number", selection(status=403), {"status": 403}, True),
    ("number as text", selection(status=403), {"status": "403"}, True),
    ("number, other", selection(status=403), {"status": 404}, False),
    ("text rule, number event", selection(status="403"), {"status": 403}, True),
    ("boolean", selection(team=True), {"team": True}, True),
    ("boolean as text", selection(team=True), {"team": "TRUE"}, True),
    ("boolean, other", selection(team=True), {"team": False}, False),
    ("null, absent", selection(session=None), {"actor": "a"}, True),
    ("null, None", selection(session=None), {"session": None}, True),
    ("null, empty text", selection(session=None), {"session": ""}, False),
    ("null, a value", selection(session=None), {"session": "s"}, False),
    ("empty text", selection(session=""), {"session": ""}, True),
    ("empty text, absent", selection(session=""), {"actor": "a"}, False),
    ("neq", selection(**{"decision|neq": "allow"}), {"decision": "deny"}, True),
    ("neq, equal", selection(**{"decision|neq": "allow"}), {"decision": "ALLOW"}, False),
    ("cased", selection(**{"code|cased": "AbC"}), {"code": "AbC"}, True),
    ("cased, other case", selection(**{"code|cased": "AbC"}), {"code": "abc"}, False),
    ("fieldref", selection(**{"actor|fieldref": "owner"}), {"actor": "A", "owner": "a"}, True),
    (
        "fieldref, other",
        selection(**{"actor|fieldref": "owner"}),
        {"actor": "a", "owner": "b"},
        False,
    ),
    ("windash", selection(**{"cmd|windash|contains": " -all"}), {"cmd": "export /all"}, True),
    ("windash, no", selection(**{"cmd|windash|contains": " -all"}), {"cmd": "export all"}, False),
    ("base64", selection(**{"blob|base64": "secret"}), {"blob": "c2VjcmV0"}, True),
    ("base64, other", selection(**{"blob|base64": "secret"}), {"blob": "secret"}, False),
    (
        "base64offset",
        selection(**{"blob|base64offset|contains": "secret"}),
        {"blob": "eHNlY3JldA=="},  # "xsecret"
        True,
    ),
    (
        "base64offset, other",
        selection(**{"blob|base64offset|contains": "secret"}),
        {"blob": "b3RoZXI="},
        False,
    ),
    ("keyword", {"keywords": ["DROP TABLE"], "condition": "keywords"}, {"q": "x drop table"}, True),
    (
        "keyword, nested",
        {"keywords": ["evil"], "condition": "keywords"},
        {"a": {"b": ["EVIL"]}},
        True,
    ),
    ("keyword, absent", {"keywords": ["evil"], "condition": "keywords"}, {"a": "good"}, False),
    ("dotted name, nested", selection(**{"actor.id": "abc"}), {"actor": {"id": "ABC"}}, True),
    ("dotted name, flat key", selection(**{"actor.id": "abc"}), {"actor.id": "abc"}, True),
    ("dotted name, absent", selection(**{"actor.id": "abc"}), {"actor": "abc"}, False),
    ("list field", selection(patients="p1"), {"patients": ["p0", "P1"]}, True),
    ("list field, none", selection(patients="p1"), {"patients": ["p0", "p2"]}, False),
]


@pytest.mark.parametrize(
    ("detection", "event", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_detection_item_matches_as_sigma_says(
    detection: dict[str, Any], event: dict[str, Any], expected: bool
) -> None:
    assert compile_detection(detection).matches(event) is expected


A, B, C = {"action": READ}, {"decision": "deny"}, {"purpose": "care"}
EVENTS = {"a": A, "ab": A | B, "ac": A | C, "abc": A | B | C, "b": B, "none": {"x": 1}}

# (condition, the events of EVENTS that match)
CONDITIONS = [
    ("sel_a and sel_b", {"ab", "abc"}),
    ("sel_a or sel_b", {"a", "ab", "ac", "abc", "b"}),
    ("not sel_a", {"b", "none"}),
    ("sel_a and not sel_b", {"a", "ac"}),
    ("sel_a and (sel_b or sel_c)", {"ab", "ac", "abc"}),
    ("(sel_a and sel_b) or sel_c", {"ab", "ac", "abc"}),
    ("not (sel_a or sel_b)", {"none"}),
    ("1 of sel_*", {"a", "ab", "ac", "abc", "b"}),
    ("any of sel_*", {"a", "ab", "ac", "abc", "b"}),
    ("all of sel_*", {"abc"}),
    ("1 of them", {"a", "ab", "ac", "abc", "b"}),
    ("all of them", {"abc"}),
    ("sel_a and 1 of sel_b*", {"ab", "abc"}),
    ("sel_a and not 1 of sel_b*", {"a", "ac"}),
]


@pytest.mark.parametrize(("condition", "matching"), CONDITIONS)
def test_condition_combines_detections(condition: str, matching: set[str]) -> None:
    rule = compile_detection({"sel_a": A, "sel_b": B, "sel_c": C, "condition": condition})
    assert {name for name, event in EVENTS.items() if rule.matches(event)} == matching


def test_several_conditions_are_alternatives() -> None:
    rule = compile_detection({"sel_a": A, "sel_b": B, "condition": ["sel_a", "sel_b"]})
    assert rule.matches(B) and rule.matches(A) and not rule.matches(C)


def test_list_of_maps_is_or_of_ands() -> None:
    rule = compile_detection({"sel": [A | B, C], "condition": "sel"})
    assert rule.matches(A | B) and rule.matches(C)
    assert not rule.matches(A) and not rule.matches(B)


@pytest.mark.parametrize("modifier", ["utf16", "wide", "hour", "expand"])
def test_unsupported_modifier_is_refused_by_name(modifier: str) -> None:
    value = 3 if modifier == "hour" else "%placeholder%"
    with pytest.raises(RuleError) as refused:
        compile_detection(selection(**{f"time|{modifier}": value}), title="Odd modifier")
    message = str(refused.value)
    assert f"'{modifier}'" in message and "'Odd modifier'" in message
    assert message.endswith("not support.")


def test_unknown_modifier_is_refused() -> None:
    with pytest.raises(RuleError, match="'Typo'"):
        compile_detection(selection(**{"action|contain": "x"}), title="Typo")


def test_condition_naming_nothing_is_refused() -> None:
    with pytest.raises(RuleError, match="'Dangling'"):
        compile_detection({"sel": A, "condition": "sel and other"}, title="Dangling")


def test_invalid_regex_is_refused() -> None:
    with pytest.raises(RuleError, match="'Bad regex'"):
        compile_detection(selection(**{"actor|re": "(unclosed"}), title="Bad regex")


def test_condition_nested_too_deeply_is_refused() -> None:
    with pytest.raises(RuleError, match="nested too deeply"):
        compile_detection({"sel": A, "condition": "not " * 200 + "sel"}, title="Deep")
