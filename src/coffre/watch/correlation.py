"""Windows of one correlation rule: per group, the matches of its rules within its timespan.

Times are seconds since the epoch (floats). A rule whose condition is gt or gte keeps a
sliding window per group: each match is added, the matches older than the group's newest
minus the timespan are dropped, and the condition is judged at once; when it holds the rule
fires with every match of the window, and the group starts afresh. A rule whose condition is
lt, lte or eq can only be judged once a window is over: a group's window opens with its first
match and closes a timespan later; it is judged when the detector's clock passes its end.

A group that has seen nothing for a timespan is forgotten, so the memory held is bounded by
the matches of the last timespan.
"""

from __future__ import annotations

import heapq
import itertools
import math
import operator
from collections import deque
from collections.abc import Callable
from typing import Any, NamedTuple

from coffre.watch.rules import CorrelationKind, CorrelationRule, Rule
from coffre.watch.values import MISSING, Event, getter

# Breaks ties between equal deadlines on the heap, so that it never compares the rest.
_tickets = itertools.count()


class Match(NamedTuple):
    """A correlation's window fired: its rule, its group, the ids of the events that made
    it fire (in time order, each once) and the times of the first and last of them."""

    rule: CorrelationRule
    group: tuple[Any, ...]
    event_ids: tuple[Any, ...]
    start: float
    end: float


class Many(tuple[Any, ...]):
    """The event ids of one match that is itself a correlation's firing (an event's id is
    kept as it is, not in a tuple)."""

    __slots__ = ()


class Window:
    """The matches of one group: (time, event id or Many, tags) in time order, tags being the
    values of a value_count or the rule's position for temporal types; `counts` counts them."""

    __slots__ = ("chain", "counts", "entries", "opened")

    def __init__(self, opened: float) -> None:
        self.entries: deque[tuple[float, Any, tuple[Any, ...]]] = deque()
        self.counts: dict[Any, int] = {}
        self.opened = opened
        # For temporal_ordered: the times of the earliest matches of the rules one after the
        # other (the first rule's earliest match, the second's earliest after it, …); None
        # when it must be found again by going through the window.
        self.chain: list[float] | None = []

    def insert(self, time: float, ident: Any, tags: tuple[Any, ...]) -> None:
        """Add a match that came a little late, keeping the window in time order."""
        entries = self.entries
        position = len(entries)
        while position and entries[position - 1][0] > time:
            position -= 1
        entries.insert(position, (time, ident, tags))
        self.chain = None

    def drop_before(self, limit: float) -> None:
        entries, counts = self.entries, self.counts
        if self.chain and self.chain[0] < limit:
            self.chain = None  # its first match leaves: the chain may start later now
        while entries and entries[0][0] < limit:
            for tag in entries.popleft()[2]:
                left = counts[tag] - 1
                if left:
                    counts[tag] = left
                else:
                    del counts[tag]

    def event_ids(self) -> tuple[Any, ...]:
        seen: dict[Any, None] = {}
        for _, ident, _ in self.entries:
            if ident.__class__ is Many:
                for event_id in ident:
                    seen[event_id] = None
            else:
                seen[ident] = None
        return tuple(seen)


# Adds a match of one source rule: the event (or a firing's group as a mapping), its time,
# its id (or Many ids); returns the firing it causes, if any.
Adder = Callable[[Event, float, Any], Match | None]


class Windows:
    """The state of one correlation rule. Deadlines (when a group's window may have to be
    judged or forgotten) go to the detector's heap, shared by every correlation."""

    def __init__(self, rule: CorrelationRule, deadlines: list[Any]) -> None:
        self.rule = rule
        self.span = rule.timespan.total_seconds()
        self.groups: dict[Any, Window] = {}  # by group key: the value of a single group-by
        self.on_arrival = rule.condition.on_arrival
        self._deadlines = deadlines
        self._single = len(rule.group_by) == 1
        self._holds = _judge(rule)

    def held(self) -> int:
        """How many matches the windows hold."""
        return sum(len(window.entries) for window in self.groups.values())

    def adder(self, source: Rule) -> Adder:
        """The function adding matches of `source`, one of the rule's rules."""
        rule = self.rule
        position = next(n for n, found in enumerate(rule.rules) if found is source)
        read_key = _key_reader(rule.group_fields[position])
        counted = rule.kind in (CorrelationKind.TEMPORAL, CorrelationKind.TEMPORAL_ORDERED)
        own_tags = (position,) if counted else ()
        values = _values_reader(rule.condition.fields)
        if rule.kind is not CorrelationKind.VALUE_COUNT:
            values = None
        groups, deadlines, span, on_arrival = (
            self.groups,
            self._deadlines,
            self.span,
            self.on_arrival,
        )
        push, tickets = heapq.heappush, _tickets
        measure = {CorrelationKind.EVENT_COUNT: 0, CorrelationKind.TEMPORAL_ORDERED: 2}.get(
            rule.kind, 1
        )
        count, steps = rule.condition.count, len(rule.rules)
        # Judged on arrival (gt, gte), a temporal_ordered rule keeps a match of a later rule
        # only when a match of its first rule is in the window.
        later_step = on_arrival and measure == 2 and position > 0
        # On arrival (gt, gte), the condition is "at least so many".
        at_least = math.floor(count) + 1 if rule.condition.op == "gt" else math.ceil(count)

        # A single plain group-by field, and a single plain value_count field, are read inline.
        fields = rule.group_fields[position]
        key_field = fields[0] if len(fields) == 1 and "." not in fields[0] else None
        value_fields = rule.condition.fields if values is not None else ()
        value_field = value_fields[0] if len(value_fields) == 1 else None
        if value_field is not None and "." in value_field:
            value_field = None

        def add(event: Event, time: float, ident: Any) -> Match | None:
            tags = own_tags
            if values is not None:
                value = event.get(value_field) if value_field is not None else None
                if value.__class__ is str:
                    tags = (value,)
                elif value.__class__ is list and len(value) == 1 and value[0].__class__ is str:
                    tags = (value[0],)
                else:
                    tags = values(event)
                    if not tags:  # nothing to count
                        return None
            if key_field is not None:
                key = event.get(key_field)
                if key.__class__ is not str:
                    key = _hashable(key)
            else:
                key = read_key(event)
            window = groups.get(key)
            if later_step:  # in order, nothing can start with a later rule's match
                if window is None:
                    return None
                if window.entries[0][0] < time - span:
                    window.drop_before(time - span)
                if not window.entries or _in_order(window, steps) == 0:
                    return None
            if window is None:
                window = groups[key] = Window(time)
                push(deadlines, (time + span, next(tickets), self, key, window))
            entries = window.entries
            if not entries or time >= entries[-1][0]:
                entries.append((time, ident, tags))
                chain = window.chain
                if measure == 2 and chain is not None and tags[0] == len(chain) < steps:
                    chain.append(time)
            else:
                window.insert(time, ident, tags)
            if tags:
                counts = window.counts
                for tag in tags:
                    counts[tag] = counts.get(tag, 0) + 1
            if not on_arrival:
                return None
            oldest = entries[-1][0] - span
            if entries[0][0] < oldest:
                window.drop_before(oldest)
            if measure == 0:
                reached = len(entries)
            elif measure == 1:
                reached = len(window.counts)
            else:
                reached = _in_order(window, steps)
            if reached < at_least:
                return None
            del groups[key]  # the heap's entry for it is now stale
            return self._fire(key, window)

        return add

    def expire(self, key: Any, window: Window, now: float) -> Match | None:
        """The window's deadline passed at `now`: judge (lt, lte, eq) or forget it, or set a
        later deadline if it saw matches since."""
        if self.groups.get(key) is not window:
            return None  # fired or closed already
        if not self.on_arrival:
            del self.groups[key]
            if window.entries and self._holds(window):
                return self._fire(key, window)
            return None
        newest = window.entries[-1][0] if window.entries else window.opened
        if newest + self.span < now:
            del self.groups[key]
        else:
            window.drop_before(newest - self.span)
            heapq.heappush(self._deadlines, (newest + self.span, next(_tickets), self, key, window))
        return None

    def _fire(self, key: Any, window: Window) -> Match:
        group = (key,) if self._single else key
        entries = window.entries
        return Match(self.rule, group, window.event_ids(), entries[0][0], entries[-1][0])


def _key_reader(fields: tuple[str, ...]) -> Callable[[Event], Any]:
    """A function reading the group key: the value of a single group-by field (None if
    absent), or the tuple of the values of several."""
    if len(fields) == 1 and "." not in fields[0]:
        (name,) = fields

        def one(event: Event) -> Any:
            value = event.get(name)
            return value if value.__class__ is str else _hashable(value)

        return one
    readers = [getter(name) for name in fields]
    if len(readers) == 1:
        (read,) = readers
        return lambda event: _hashable(read(event))
    return lambda event: tuple(_hashable(read(event)) for read in readers)


def _hashable(value: Any) -> Any:
    if value is MISSING:
        return None
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(item) for item in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), _hashable(v)) for k, v in value.items()))
    if isinstance(value, set):
        return tuple(sorted(map(str, value)))
    return value


def _values_reader(fields: tuple[str, ...]) -> Callable[[Event], tuple[Any, ...]]:
    """A function reading the values a value_count counts in one event: the field's value,
    or each element of a list; for several fields, their combination. Absent and null values
    count for nothing."""
    if len(fields) == 1 and "." not in fields[0]:
        (name,) = fields

        def one(event: Event) -> tuple[Any, ...]:
            value = event.get(name)
            if value.__class__ is str:
                return (value,)
            if value is None:
                return ()
            if isinstance(value, (list, tuple)):
                if len(value) == 1 and value[0].__class__ is str:
                    return (value[0],)
                return tuple({_hashable(item): None for item in value if item is not None})
            return (_hashable(value),)

        return one
    readers = [getter(name) for name in fields]
    if len(readers) == 1:
        (read,) = readers

        def dotted(event: Event) -> tuple[Any, ...]:
            value = read(event)
            if value is MISSING or value is None:
                return ()
            if isinstance(value, (list, tuple)):
                return tuple({_hashable(item): None for item in value if item is not None})
            return (_hashable(value),)

        return dotted

    def combined(event: Event) -> tuple[Any, ...]:
        values = tuple(_hashable(read(event)) for read in readers)
        return () if all(value is None for value in values) else (values,)

    return combined


def _in_order(window: Window, steps: int) -> int:
    """How many of a temporal_ordered rule's rules matched one after the other, in order."""
    if window.chain is None:
        chain: list[float] = []
        for time, _, (position,) in window.entries:
            if position == len(chain):
                chain.append(time)
                if len(chain) == steps:
                    break
        window.chain = chain
    return len(window.chain)


_COMPARE = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
    "eq": operator.eq,
}


def _judge(rule: CorrelationRule) -> Callable[[Window], bool]:
    """Whether a window meets the condition. The measure is a count of matches (event_count),
    of distinct values (value_count), of distinct rules (temporal), or of rules matched one
    after the other in the order given (temporal_ordered)."""
    compare, count = _COMPARE[rule.condition.op], rule.condition.count
    if rule.kind is CorrelationKind.EVENT_COUNT:
        return lambda window: compare(len(window.entries), count)
    if rule.kind is not CorrelationKind.TEMPORAL_ORDERED:
        return lambda window: compare(len(window.counts), count)
    steps = len(rule.rules)
    return lambda window: compare(_in_order(window, steps), count)
