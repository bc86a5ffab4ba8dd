"""Tests of text values, and how generated code writes the usual tests inline.

A Sigma string (text with `*` and `?` wildcards, escapes already resolved by pySigma) becomes
the cheapest comparison it amounts to: equality, a prefix, a suffix, a substring, or a
regular expression that must match the whole value. Comparisons are made after
`str.casefold` on both sides, unless the rule says `cased`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sigma.types import CompareOperators, SigmaString, SpecialChars

from coffre.watch import values as v
from coffre.watch.nodes import Node, Test

# Cheaper tests go first in an AND, so that most events are turned down early.
COST = {"in": 0, "eq": 0, "prefix": 1, "suffix": 1, "contains": 2, "value": 2, "pattern": 3}

SYMBOLS = {
    CompareOperators.LT: "<",
    CompareOperators.LTE: "<=",
    CompareOperators.GT: ">",
    CompareOperators.GTE: ">=",
}

# Inline forms of the tests (see nodes.Test.inline): {f} the field, {c} the operand, {s} the
# predicate for what the inline form leaves to it. `_v` is the field's value.
_TEXT = {
    "eq": "{v} == {c}",
    "in": "{v} in {c}",
    "prefix": "{v}.startswith({c})",
    "suffix": "{v}.endswith({c})",
    "contains": "{c} in {v}",
    "pattern": "{c}.fullmatch({v}) is not None",
}
NULL = "(e.get({f}) is None)"
PRESENT = "({f} in e)"
ABSENT = "({f} not in e)"


def on_string(test: str) -> str:
    """`test` of a string value inline, anything else left to the predicate."""
    return "(" + test + " if (_v := e.get({f})).__class__ is _str else {s}(e))"


def on_number(test: str) -> str:
    """`test` of an int or float value inline, anything else left to the predicate."""
    return "(" + test + " if (_v := e.get({f})).__class__ in _num else {s}(e))"


Part = str | SpecialChars  # a run of literal text, or a wildcard


def parts_of(value: SigmaString) -> list[Part]:
    """The string as runs of text and wildcards, adjacent runs joined and `**` as `*`; raise
    ValueError for a placeholder (the `expand` modifier)."""
    parts: list[Part] = []
    for part in value.s:
        if isinstance(part, str):
            if parts and isinstance(parts[-1], str):
                parts[-1] += part
            elif part:
                parts.append(part)
        elif part is SpecialChars.WILDCARD_MULTI:
            if not parts or parts[-1] is not SpecialChars.WILDCARD_MULTI:
                parts.append(part)
        elif part is SpecialChars.WILDCARD_SINGLE:
            parts.append(part)
        else:
            raise ValueError("a placeholder")
    return parts


ANY = SpecialChars.WILDCARD_MULTI
_ONE = SpecialChars.WILDCARD_SINGLE


def shape(parts: Sequence[Part], fold: bool) -> tuple[str, Any]:
    """The cheapest comparison a Sigma string amounts to, and its operand."""

    def text(part: Part) -> str:
        assert isinstance(part, str)
        return part.casefold() if fold else part

    shape = tuple(isinstance(part, str) or part for part in parts)  # True for text
    if _ONE not in shape:
        if shape == ():
            return "eq", ""
        if shape == (True,):
            return "eq", text(parts[0])
        if shape == (True, ANY):
            return "prefix", text(parts[0])
        if shape == (ANY, True):
            return "suffix", text(parts[1])
        if shape == (ANY, True, ANY):
            return "contains", text(parts[1])
    return "pattern", wildcards(parts, fold)


def wildcards(parts: Sequence[Part], fold: bool) -> re.Pattern[str]:
    """A regular expression that must match a whole value: text literal (casefolded when
    `fold`), `*` any run of characters, `?` one character."""
    pieces = []
    for part in parts:
        if isinstance(part, str):
            pieces.append(re.escape(part.casefold() if fold else part))
        else:
            pieces.append(".*" if part is ANY else ".")
    return re.compile("".join(pieces), re.DOTALL)


def text_test(
    field: str, kind: str, target: Any, fold: bool, equals: frozenset[str] | None
) -> Test:
    """A text comparison; casefolded ones carry what generated code needs to inline them."""
    slow = v.text_slow(field, kind, target, fold)
    template = on_string(_TEXT[kind].replace("{v}", "_v.casefold()" if fold else "_v"))
    folded = _TEXT[kind].replace("{v}", "{h}") if fold else None
    return Test(field, slow, COST[kind], equals, inline=(template, target, slow), folded=folded)


def merge_alternatives(field: str | None, tests: list[Node]) -> list[Node]:
    """OR-ed exact values of one field become one set lookup."""
    if field is None:
        return tests
    exact: set[str] = set()
    rest: list[Node] = []
    for test in tests:
        if isinstance(test, Test) and test.equals is not None:
            exact |= test.equals
        else:
            rest.append(test)
    merged: list[Node] = []
    if len(exact) == 1:
        (only,) = exact
        merged.append(text_test(field, "eq", only, True, frozenset(exact)))
    elif exact:
        frozen = frozenset(exact)
        merged.append(text_test(field, "in", frozen, True, frozen))
    return merged + rest
