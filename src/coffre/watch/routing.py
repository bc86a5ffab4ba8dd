"""Route an event to the detection rules it may match, and evaluate them in one call.

The rules are indexed by one field: most rules require exact values of it (an `action`
among a few), so an event is only tried against the rules that require the value it holds
there, and against the rules that require nothing of that field. The tests the routing made
are left out of those rules, and each route (one per value, one for the rest) is generated
as one function evaluating all its rules.

An event whose field holds text is routed by that very text: the first time a text is seen,
every test of the field (that reads nothing else) is answered for it once, and a route is
generated with only the rules left and only what is left of them to test (`Router.route`).
The few texts a field holds (the journal's actions) so cost one dictionary lookup per event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from coffre.watch import nodes
from coffre.watch.nodes import Node, Test
from coffre.watch.rules import DetectionRule
from coffre.watch.values import MISSING, Event, Predicate, as_text, path_of, walk

T = TypeVar("T")
U = TypeVar("U")
Selector = Callable[[Event], tuple[Any, ...]]

# Routes generated for the texts seen in the field, at most; past that, the texts not seen
# yet are routed by their casefolded value (a field holding many texts gains nothing anyway).
_ROUTES = 1_024


class Router(Generic[T]):
    """Items standing for detection rules (`items[n]` for `rules[n]`), selected for an event
    when it matches their rule. `field` is the field events are routed by (None: none)."""

    def __init__(self, field: str | None, items: Sequence[T], rules: Sequence[DetectionRule]):
        self.field = field
        self.items = tuple(items)
        self.rules = tuple(rules)
        self._path = path_of(field) if field is not None else None
        routed = [self._routed(rule) for rule in self.rules]
        self._predicates: list[Predicate] = [
            nodes.always if node is None else nodes.closure(node) for node in routed
        ]
        constrained = [field is not None and field in rule.required for rule in self.rules]
        self._others = tuple(n for n, bound in enumerate(constrained) if not bound)
        values = sorted({value for rule in self.rules for value in rule.required.get(field, ())})
        self._by_value = {
            value: tuple(
                n
                for n, rule in enumerate(self.rules)
                if not constrained[n] or value in rule.required[field]  # type: ignore[index]
            )
            for value in values
        }

        def select(positions: tuple[int, ...]) -> Selector:
            return nodes.selector([(self.items[n], routed[n]) for n in positions])

        self.select_others = select(self._others)
        self.select_by_value: dict[str, Selector] = {
            value: select(positions) for value, positions in self._by_value.items()
        }
        # The routes of the texts seen in the field, as they are spelled (see `route`).
        self.routes: dict[str, Selector] = {}

    def _routed(self, rule: DetectionRule) -> Node | None:
        node = rule.node if rule.node is not None else Test(None, rule.predicate, 0)
        if self.field is None or self.field not in rule.required:
            return node
        return nodes.routed(node, self.field, rule.required[self.field])

    def map(self, convert: Callable[[T], U]) -> Router[U]:
        """The same routes over converted items."""
        return Router(self.field, [convert(item) for item in self.items], self.rules)

    def route(self, value: str) -> Selector:
        """The selector for the events whose field holds the text `value`: generated the
        first time, with the tests of the field answered for that text."""
        found = self.routes.get(value)
        if found is not None:
            return found
        if self.field is None or len(self.routes) >= _ROUTES:
            return self.select_by_value.get(value.casefold(), self.select_others)
        entries = []
        for item, rule in zip(self.items, self.rules, strict=True):
            node = rule.node if rule.node is not None else Test(None, rule.predicate, 0)
            left = nodes.fixed(node, self.field, value)
            if left is not False:
                entries.append((item, None if left is True else left))
        found = self.routes[value] = nodes.selector(entries)  # type: ignore[arg-type]
        return found

    def select(self, event: Event) -> tuple[T, ...]:
        """The items whose rule the event matches, in order."""
        field = self.field
        if field is None:
            return self.select_others(event)
        value = event.get(field)
        if value.__class__ is str:
            return self.route(value)(event)
        positions = self._positions(event, value)
        return tuple(self.items[n] for n in positions if self._predicates[n](event))

    def candidates(self, event: Event) -> tuple[T, ...]:
        """The items the event is routed to: those whose rule it may match."""
        if self.field is None:
            return tuple(self.items[n] for n in self._others)
        return tuple(self.items[n] for n in self._positions(event, event.get(self.field)))

    def _positions(self, event: Event, value: Any) -> tuple[int, ...]:
        if value.__class__ is str:
            return self._by_value.get(value.casefold(), self._others)
        if value is None and self._path is not None and self.field not in event:
            value = walk(event, self._path)
        found: set[int] = set()
        for item in value if isinstance(value, (list, tuple)) else (value,):
            text = as_text(item) if item is not MISSING else None
            found.update(self._by_value.get(text.casefold(), ()) if text is not None else ())
        return tuple(sorted(found)) if found else self._others
