"""Compile the detection of a Sigma rule, as pySigma parses it, into one predicate.

pySigma gives each named detection as detection items (a field, its modifiers, its values
after the modifiers were applied, whether they are linked with AND or OR) and the condition
as a parse tree. Both become one tree of nodes (see nodes.py), each leaf a closure testing
one field of the event. What the engine does not support is refused with a RuleError that
names the rule, never ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pyparsing import ParseResults
from sigma.conditions import (
    ConditionAND,
    ConditionIdentifier,
    ConditionNOT,
    ConditionOR,
    ConditionSelector,
)
from sigma.exceptions import SigmaError
from sigma.modifiers import reverse_modifier_mapping
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SigmaType,
)

from coffre.watch import texts as t
from coffre.watch import values as v
from coffre.watch.errors import RuleError
from coffre.watch.nodes import AllOf, AnyOf, Node, Not, Test

# Modifiers whose meaning the compiler implements; any other is refused by name.
SUPPORTED_MODIFIERS = frozenset(
    {
        "all",
        "base64",
        "base64offset",
        "cased",
        "cidr",
        "contains",
        "dotall",
        "endswith",
        "exists",
        "fieldref",
        "gt",
        "gte",
        "i",
        "ignorecase",
        "lt",
        "lte",
        "m",
        "multiline",
        "neq",
        "re",
        "s",
        "startswith",
        "windash",
    }
)

_COMPARE: dict[CompareOperators, Callable[[Any, Any], bool]] = {
    CompareOperators.LT: lambda a, b: a < b,
    CompareOperators.LTE: lambda a, b: a <= b,
    CompareOperators.GT: lambda a, b: a > b,
    CompareOperators.GTE: lambda a, b: a >= b,
}


def label(rule: Any) -> str:
    """How a message names a rule: its title, and its name or id when it has one."""
    title = getattr(rule, "title", "") or "untitled"
    ref = getattr(rule, "name", None) or getattr(rule, "id", None)
    return f"'{title}' ({ref})" if ref else f"'{title}'"


def compile_detection(rule: SigmaRule) -> Node:
    """The node tree of the rule's condition (several conditions are OR-ed); raise RuleError
    naming the rule if it uses something the engine does not support."""
    _check_modifiers(rule)
    named: dict[str, Node] = {}

    def detection(name: str) -> Node:
        if name not in named:
            try:
                found = rule.detection.detections[name]
            except KeyError:
                raise RuleError(
                    f"The rule {label(rule)} names a detection '{name}' it does not define."
                ) from None
            named[name] = _detection(rule, found)
        return named[name]

    try:
        trees = [
            condition.parse(postprocess=False) for condition in rule.detection.parsed_condition
        ]
        nodes = [_condition(rule, tree, detection) for tree in trees]
    except RecursionError:
        raise RuleError(f"The rule {label(rule)} has a condition nested too deeply.") from None
    except SigmaError as exc:
        reason = str(exc).strip().rstrip(".")
        raise RuleError(f"The rule {label(rule)} has an invalid condition ({reason}).") from None
    return nodes[0] if len(nodes) == 1 else AnyOf(tuple(nodes))


def _check_modifiers(rule: SigmaRule) -> None:
    def items(detection: SigmaDetection) -> list[SigmaDetectionItem]:
        found: list[SigmaDetectionItem] = []
        for item in detection.detection_items:
            found.extend(items(item) if isinstance(item, SigmaDetection) else [item])
        return found

    for detection in rule.detection.detections.values():
        for item in items(detection):
            for modifier in item.modifiers:
                name = reverse_modifier_mapping.get(modifier.__name__, modifier.__name__)
                if name not in SUPPORTED_MODIFIERS:
                    raise RuleError(
                        f"The rule {label(rule)} uses the modifier '{name}', which Coffre's "
                        "detection engine does not support."
                    )


def _condition(rule: SigmaRule, tree: Any, detection: Callable[[str], Node]) -> Node:
    while isinstance(tree, ParseResults) and len(tree) == 1:
        tree = tree[0]
    if isinstance(tree, ConditionIdentifier):
        return detection(tree.identifier)
    if isinstance(tree, ConditionSelector):
        names = [ref.identifier for ref in tree.resolve_referenced_detections(rule.detection)]
        if not names:
            raise RuleError(
                f"The rule {label(rule)} has a condition '{' of '.join(tree.args)}' "
                "that names no detection."
            )
        parts = tuple(detection(name) for name in names)
        return AllOf(parts) if tree.cond_class is ConditionAND else AnyOf(parts)
    if isinstance(tree, ConditionNOT):
        return Not(_condition(rule, tree.args[0], detection))
    if isinstance(tree, (ConditionAND, ConditionOR)):
        parts = tuple(_condition(rule, arg, detection) for arg in tree.args)
        return AllOf(parts) if isinstance(tree, ConditionAND) else AnyOf(parts)
    raise RuleError(f"The rule {label(rule)} has a condition the engine cannot read.")


def _detection(rule: SigmaRule, detection: SigmaDetection) -> Node:
    parts = tuple(
        _detection(rule, item) if isinstance(item, SigmaDetection) else _item(rule, item)
        for item in detection.detection_items
    )
    if len(parts) == 1:
        return parts[0]
    return AllOf(parts) if detection.item_linking is ConditionAND else AnyOf(parts)


def _item(rule: SigmaRule, item: SigmaDetectionItem) -> Node:
    field = item.field
    plain_keyword = field is None and not item.modifiers
    if not item.value:  # `field: []` or `field: null` without a value list
        node: Node = _null(rule, field)
    else:
        linked_and = item.value_linking is ConditionAND
        # An expansion (windash, base64offset) is one value: its variants are OR-ed.
        tests = [_value(rule, field, value, plain_keyword) for value in item.value]
        if not linked_and:
            tests = t.merge_alternatives(field, tests)
        node = tests[0] if len(tests) == 1 else (AllOf if linked_and else AnyOf)(tuple(tests))
    return Not(node) if item.negated else node


def _null(rule: SigmaRule, field: str | None) -> Node:
    if field is None:
        raise RuleError(f"The rule {label(rule)} has a null keyword, which matches nothing.")
    predicate = v.field_test(field, v.null_test)
    flat = "." not in field
    return Test(field, predicate, t.COST["eq"], inline=(t.NULL, None, None) if flat else None)


def _value(rule: SigmaRule, field: str | None, value: SigmaType, plain_keyword: bool) -> Node:
    if isinstance(value, SigmaExpansion):
        parts = [_value(rule, field, item, plain_keyword) for item in value.values]
        merged = t.merge_alternatives(field, parts)
        return merged[0] if len(merged) == 1 else AnyOf(tuple(merged))
    if isinstance(value, SigmaString):
        return _string(rule, field, value, plain_keyword)
    if field is None:
        return _keyword_other(rule, value)
    if isinstance(value, SigmaNull):
        return _null(rule, field)
    if isinstance(value, SigmaExists):
        predicate = v.field_test(field, v.exists_test(bool(value)))
        inline = (t.PRESENT if value else t.ABSENT, None, None) if "." not in field else None
        return Test(field, predicate, t.COST["eq"], inline=inline)
    if isinstance(value, SigmaBool):
        return Test(field, v.field_test(field, v.bool_test(bool(value))), t.COST["value"])
    if isinstance(value, SigmaCompareExpression):
        compare, limit = _COMPARE.get(value.op), value.number.number
        if compare is None:
            raise RuleError(f"The rule {label(rule)} uses a comparison the engine cannot make.")
        test = v.number_test(lambda number: compare(number, limit))
        inline = (t.on_number(f"_v {t.SYMBOLS[value.op]} {{c}}"), limit, v.field_test(field, test))
        return Test(field, v.field_test(field, test), t.COST["value"], inline=inline)
    if isinstance(value, SigmaNumber):
        target = value.number
        test = v.number_test(lambda number: number == target)
        inline = (t.on_number("_v == {c}"), target, v.field_test(field, test))
        return Test(field, v.field_test(field, test), t.COST["value"], inline=inline)
    if isinstance(value, SigmaRegularExpression):
        pattern = _regex(rule, value)
        slow = v.field_test(field, v.regex_test(pattern))
        literal = v.regex_literal(pattern)
        if literal is None:
            inline = (t.on_string("{c}.search(_v) is not None"), pattern, slow)
            return Test(field, slow, t.COST["pattern"], inline=inline)
        kind, text = literal  # `^text` or `text`: the same test of a string, cheaper
        template = "_v.startswith({c})" if kind == "prefix" else "{c} in _v"
        return Test(field, slow, t.COST[kind], inline=(t.on_string(template), text, slow))
    if isinstance(value, SigmaCIDRExpression):
        test, known = v.cidr_test(value.network)
        slow = v.field_test(field, test)
        return Test(field, slow, t.COST["contains"], inline=(t.on_string("{c}[_v]"), known, slow))
    if isinstance(value, SigmaFieldReference):
        kind = _reference_kind(value)
        predicate = v.reference_leaf(field, value.field, kind, fold=True)
        return Test(field, predicate, t.COST["value"], alone=False)
    raise RuleError(
        f"The rule {label(rule)} compares '{field}' with a {type(value).__name__} value, "
        "which the engine does not support."
    )


def _reference_kind(value: SigmaFieldReference) -> str:
    if value.starts_with and value.ends_with:
        return "contains"
    if value.starts_with:
        return "prefix"
    if value.ends_with:
        return "suffix"
    return "eq"


def _regex(rule: SigmaRule, value: SigmaRegularExpression) -> re.Pattern[str]:
    flags = 0
    for flag in value.flags:
        flags |= value.sigma_to_python_flags[flag]
    try:
        return re.compile(str(value.regexp), flags)
    except re.error as exc:
        raise RuleError(
            f"The rule {label(rule)} has an invalid regular expression: {exc}."
        ) from None


def _string(rule: SigmaRule, field: str | None, value: SigmaString, plain_keyword: bool) -> Node:
    fold = not isinstance(value, SigmaCasedString)
    try:
        parts = t.parts_of(value)
    except ValueError:
        raise RuleError(
            f"The rule {label(rule)} has a placeholder value, which the engine does not support."
        ) from None
    if plain_keyword:  # a bare keyword is looked for anywhere in a value
        if not parts or parts[0] is not t.ANY:
            parts.insert(0, t.ANY)
        if parts[-1] is not t.ANY:
            parts.append(t.ANY)
    kind, target = t.shape(parts, fold)
    if field is None:
        match = v.text_match(kind, target)
        return Test(None, v.keyword_leaf(match, fold), t.COST["pattern"] + 2)
    equals = frozenset({target}) if kind == "eq" and fold else None
    return t.text_test(field, kind, target, fold, equals)


def _keyword_other(rule: SigmaRule, value: SigmaType) -> Node:
    if isinstance(value, SigmaRegularExpression):
        pattern = _regex(rule, value)
        match = lambda text: pattern.search(text) is not None  # noqa: E731
        return Test(None, v.keyword_leaf(match, fold=False), t.COST["pattern"] + 2)
    if isinstance(value, (SigmaNumber, SigmaBool)):
        text = str(value.number if isinstance(value, SigmaNumber) else value).casefold()
        return Test(None, v.keyword_leaf(lambda t: text in t, fold=True), t.COST["pattern"] + 2)
    raise RuleError(
        f"The rule {label(rule)} has a keyword of a kind ({type(value).__name__}) the engine "
        "does not support."
    )
