"""SMART scopes: v2 and v1 forms parsed, malformed ones refused, requests only narrow."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coffre.identity import InvalidScope
from coffre.identity.scopes import (
    OPERATIONS,
    Scope,
    allows,
    format_scopes,
    normalise,
    parse_scope,
    parse_scopes,
    within,
)

contexts = st.sampled_from(["system", "user", "patient"])
resources = st.sampled_from(["*", "Patient", "Observation", "DocumentReference", "Encounter"])
permissions = st.sets(st.sampled_from(OPERATIONS), min_size=1).map(
    lambda letters: "".join(p for p in OPERATIONS if p in letters)
)
scopes = st.builds(Scope, contexts, resources, permissions)
scope_sets = st.lists(scopes, min_size=1, max_size=6).map(normalise)


def _narrowed(granted: tuple[Scope, ...], data: st.DataObject) -> tuple[Scope, ...]:
    """Some of the granted scopes, each with some of its permissions."""
    picked = data.draw(st.lists(st.sampled_from(granted), min_size=1, max_size=len(granted)))
    narrowed = []
    for scope in picked:
        letters = data.draw(st.sets(st.sampled_from(scope.permissions), min_size=1))
        resource = scope.resource
        if resource == "*":
            resource = data.draw(st.sampled_from(["*", "Patient", "Condition"]))
        narrowed.append(Scope(scope.context, resource, "".join(sorted(letters, key="cruds".index))))
    return normalise(narrowed)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("system/Patient.rs", Scope("system", "Patient", "rs")),
        ("system/Observation.r", Scope("system", "Observation", "r")),
        ("user/*.cruds", Scope("user", "*", "cruds")),
        ("patient/Observation.read", Scope("patient", "Observation", "rs")),
        ("system/*.write", Scope("system", "*", "cud")),
        ("user/Patient.*", Scope("user", "Patient", "cruds")),
    ],
)
def test_v2_and_v1_scopes_are_parsed(text, expected):
    assert parse_scope(text) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("system/Patient.sr", "cruds"),
        ("system/Patient.rr", "cruds"),
        ("system/Patient.x", "cruds"),
        ("system/Patient.", "form"),
        ("admin/Patient.r", "form"),
        ("system/patient.r", "form"),
        ("system/Patient", "form"),
        ("openid", "form"),
        ("launch/patient", "form"),
        ("system/Observation.rs?category=laboratory", "parameters"),
        ("", "form"),
    ],
)
def test_malformed_scopes_are_refused_in_one_sentence(text, why):
    with pytest.raises(InvalidScope, match=why) as raised:
        parse_scope(text)
    message = raised.value.message
    assert message.endswith(".") and message.count(". ") == 0


def test_scopes_are_merged_sorted_and_checked_for_their_context():
    parsed = parse_scopes("system/Patient.s system/Observation.r system/Patient.r")
    assert format_scopes(parsed) == "system/Observation.r system/Patient.rs"
    assert parse_scopes(["system/Patient.r", "system/Patient.s"]) == parse_scopes(
        "system/Patient.rs"
    )
    with pytest.raises(InvalidScope, match="At least one"):
        parse_scopes("  ")
    with pytest.raises(InvalidScope, match="must begin with system/"):
        parse_scopes("system/Patient.r user/Patient.r", context="system")
    with pytest.raises(InvalidScope, match="longer than"):
        parse_scopes(" ".join(f"system/R{'a' * 40}{'b' * i}.r" for i in range(20)))


def test_allows_reads_resource_operation_and_context():
    granted = parse_scopes("system/Patient.rs system/Observation.r")
    assert allows(granted, "Patient", "s")
    assert allows(granted, "Observation", "r", context="system")
    assert not allows(granted, "Observation", "s")
    assert not allows(granted, "Patient", "r", context="user")
    assert allows(parse_scopes("user/*.r"), "Condition", "r")
    with pytest.raises(ValueError, match="operation"):
        allows(granted, "Patient", "x")


def test_within_refuses_a_wider_request():
    granted = parse_scopes("system/Patient.rs system/Observation.r")
    assert within(parse_scopes("system/Patient.r"), granted)
    assert not within(parse_scopes("system/Observation.rs"), granted)
    assert not within(parse_scopes("system/*.r"), granted)
    assert not within(parse_scopes("user/Patient.r"), granted)
    assert within(parse_scopes("system/Condition.r"), parse_scopes("system/*.rs"))


@given(scope=scopes)
def test_a_scope_reads_back_as_written(scope):
    assert parse_scope(str(scope)) == scope


@given(granted=scope_sets)
def test_formatted_scopes_parse_back_to_the_same(granted):
    assert parse_scopes(format_scopes(granted)) == granted


@given(granted=scope_sets)
def test_scopes_are_within_themselves(granted):
    assert within(granted, granted)


@given(granted=scope_sets, data=st.data())
def test_a_narrowed_request_is_within_and_allows_nothing_more(granted, data):
    requested = _narrowed(granted, data)
    assert within(requested, granted)
    for resource in ("Patient", "Observation", "Condition"):
        for operation in OPERATIONS:
            if allows(requested, resource, operation):
                assert allows(granted, resource, operation)


@given(requested=scope_sets, granted=scope_sets)
def test_within_matches_what_the_scopes_allow(requested, granted):
    by_letter = all(
        any(g.covers(Scope(r.context, r.resource, letter)) for g in granted)
        for r in requested
        for letter in r.permissions
    )
    assert within(requested, granted) == by_letter
    if within(requested, granted):
        for scope in requested:
            for letter in scope.permissions:
                assert allows(granted, scope.resource, letter, context=scope.context)


@given(text=st.text(max_size=40))
def test_any_text_parses_or_is_refused_with_invalid_scope(text):
    try:
        scope, message = parse_scope(text), ""
    except InvalidScope as exc:
        scope, message = None, exc.message
    if scope is None:
        assert message.endswith(".")
    else:
        assert str(scope) == text or text.endswith((".read", ".write", ".*"))
