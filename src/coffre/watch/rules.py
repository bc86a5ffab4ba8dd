"""Compiled rules: what a detection or a correlation rule says, ready to evaluate."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from coffre.watch.nodes import Node
from coffre.watch.values import Event, Predicate


class Response(StrEnum):
    """What Coffre does when a rule fires, named by the rule's `coffre: {response: …}`."""

    SUSPEND_SESSION = "suspend-session"
    SUSPEND_ACCOUNT = "suspend-account"
    SUSPEND_TOKEN = "suspend-token"  # noqa: S105 (a response name)
    SUSPEND_CLIENT = "suspend-client"
    NOTIFY = "notify"


class CorrelationKind(StrEnum):
    """The Sigma correlation types the engine evaluates."""

    EVENT_COUNT = "event_count"
    VALUE_COUNT = "value_count"
    TEMPORAL = "temporal"
    TEMPORAL_ORDERED = "temporal_ordered"


@dataclass(frozen=True, eq=False)
class Rule:
    """What every rule has. `reported` is False for a rule that only feeds correlations
    (referenced by a correlation without `generate: true`): its own matches are not fired."""

    title: str
    id: str | None
    name: str | None
    level: str  # Sigma's level, ruleset.DEFAULT_LEVEL when the rule names none
    response: Response | None
    reported: bool
    description: str | None = None  # what the rule looks for, told with each alert

    @property
    def ref(self) -> str:
        """The rule's name, else its id, else its title."""
        return self.name or self.id or self.title


@dataclass(frozen=True, eq=False)
class DetectionRule(Rule):
    """A Sigma detection rule compiled into one predicate over an event.

    `required` maps fields to the casefolded values one of which the field must hold for the
    rule to match at all (empty when the rule does not constrain any field that way)."""

    predicate: Predicate = field(repr=False, default=lambda event: False)
    required: Mapping[str, frozenset[str]] = field(repr=False, default_factory=dict)
    node: Node | None = field(repr=False, default=None)

    def matches(self, event: Event) -> bool:
        """True when the event matches the rule's detection."""
        return self.predicate(event)


_OPERATORS = {
    "gt": lambda measure, count: measure > count,
    "gte": lambda measure, count: measure >= count,
    "lt": lambda measure, count: measure < count,
    "lte": lambda measure, count: measure <= count,
    "eq": lambda measure, count: measure == count,
}


@dataclass(frozen=True)
class Condition:
    """A correlation's condition: `op` (gt, gte, lt, lte or eq) against `count`; `fields`
    are the fields whose distinct values a value_count counts."""

    op: str
    count: int | float
    fields: tuple[str, ...] = ()

    def holds(self, measure: int) -> bool:
        """True when the measure (count of events, values or rules) meets the condition."""
        return bool(_OPERATORS[self.op](measure, self.count))

    @property
    def on_arrival(self) -> bool:
        """gt and gte are judged as each event arrives, over the sliding window before it;
        lt, lte and eq only when a group's window closes (see docs/watch.md)."""
        return self.op in ("gt", "gte")


@dataclass(frozen=True, eq=False)
class CorrelationRule(Rule):
    """A Sigma correlation rule: `kind` over the events of `rules`, grouped by `group_by`,
    within `timespan`, firing when `condition` holds."""

    kind: CorrelationKind = CorrelationKind.EVENT_COUNT
    rules: tuple[Rule, ...] = field(repr=False, default=())
    group_by: tuple[str, ...] = ()
    timespan: timedelta = timedelta(minutes=1)
    condition: Condition = Condition("gte", 1)
    # For each rule of `rules` (by position), the fields of its events that give the
    # group-by values: the group-by names, or their aliases for that rule.
    group_fields: tuple[tuple[str, ...], ...] = field(repr=False, default=())

    def fields_of(self, rule: Rule) -> tuple[str, ...]:
        """The event fields holding the group-by values in events of `rule`."""
        for position, referenced in enumerate(self.rules):
            if referenced is rule:
                return self.group_fields[position]
        raise KeyError(rule.ref)


def parse_response(rule_label: str, attributes: Mapping[str, Any]) -> Response | None:
    """The response named by the rule's `coffre` attribute, None when it has none; raise
    ValueError with a sentence fragment when the attribute is malformed."""
    coffre = attributes.get("coffre")
    if coffre is None:
        return None
    if not isinstance(coffre, Mapping):
        raise ValueError(f"The rule {rule_label} has a 'coffre' attribute that is not a mapping.")
    unknown = sorted(set(coffre) - {"response"})
    if unknown:
        raise ValueError(
            f"The rule {rule_label} has an unknown key '{unknown[0]}' under 'coffre' "
            "(only 'response' is known)."
        )
    response = coffre.get("response")
    if response is None:
        return None
    try:
        return Response(response)
    except ValueError:
        known = ", ".join(r.value for r in Response)
        raise ValueError(
            f"The rule {rule_label} asks for the response '{response}', which is not one of "
            f"{known}."
        ) from None
