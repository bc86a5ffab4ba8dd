"""Windows of one correlation rule: per group, the matches of its rules within its timespan.

Times are seconds since the epoch (floats). A rule whose condition is gt or gte keeps a
sliding window per group: each match is added, the matches older than the group's newest
minus the timespan are dropped, and the condition is judged at once; when it holds the rule
fires with every match of the window, and the group starts afresh. A rule whose condition is
lt, lte or eq can only be judged once a window is over: a group's window opens with its first
match and closes a timespan later; it is judged when the detector's clock passes its end.

A group that has seen nothing for a timespan is forgotten (with gt or gte, up to one more
timespan later when events came late: see `Windows._track`), so the memory held is bounded
by the matches of the last two timespans.
"""

from __future__ import annotations

import heapq
import itertools
import math
import operator
from collections import deque
from collections.abc import Callable
from typing import Any, ClassVar

from coffre.watch.rules import CorrelationKind, CorrelationRule, Rule
from coffre.watch.values import Event, hashable, key_reader, values_reader
from coffre.watch.window import Match, Window, in_order, uncount

# Breaks ties between equal deadlines on the heap, so that it never compares the rest.
_tickets = itertools.count()

# On the detector's heap, in place of a group's key: the first of a rule's queued deadlines
# (see Windows._track).
_QUEUE = object()


# Adds a match of one source rule: the event (or a firing's group as a mapping), its time,
# its id (or Many ids); returns the firing it causes, if any.
Adder = Callable[[Event, float, Any], Match | None]


class Windows:
    """The state of one correlation rule. Deadlines (when a group's window may have to be
    judged or forgotten) go to the detector's heap, shared by every correlation: each
    window's own when it is judged once over (lt, lte, eq); else only the first of the
    rule's queue (see `_track`)."""

    def __init__(self, rule: CorrelationRule, deadlines: list[Any]) -> None:
        self.rule = rule
        self.span = rule.timespan.total_seconds()
        self.groups: dict[Any, Window] = {}  # by group key: the value of a single group-by
        self.on_arrival = rule.condition.on_arrival
        self._deadlines = deadlines
        self._single = len(rule.group_by) == 1
        self._holds = _judge(rule)
        # On arrival (gt, gte), the condition is "at least so many".
        count = rule.condition.count
        self._at_least = math.floor(count) + 1 if rule.condition.op == "gt" else math.ceil(count)
        self._tagged = rule.kind is not CorrelationKind.EVENT_COUNT  # matches have tags
        self._ordered = rule.kind is CorrelationKind.TEMPORAL_ORDERED
        # Judged on arrival, a window needs a deadline only to be forgotten once its group
        # went quiet: these wait here, flat (deadline, key, window), in the order they fall.
        self._due: deque[Any] = deque()

    def held(self) -> int:
        """How many matches the windows hold."""
        return sum(window.size() for window in self.groups.values())

    def adder(self, source: Rule) -> Adder:
        """The function adding matches of `source`, one of the rule's rules: a lean one
        for the usual shapes (see `_lean_adder`), else the general one."""
        position = next(n for n, found in enumerate(self.rule.rules) if found is source)
        lean = self._lean_adder(position) if self.lean else None
        return lean if lean is not None else self._adder(position)

    # Whether `adder` may return lean adders (tests compare them with the general one).
    lean: ClassVar[bool] = True

    def _adder(self, position: int) -> Adder:
        """The general adder: every type, condition and kind of field."""
        rule = self.rule
        fields = rule.group_fields[position]
        read_key = key_reader(fields)
        key_field = fields[0] if len(fields) == 1 and "." not in fields[0] else None
        counted = rule.kind in (CorrelationKind.TEMPORAL, CorrelationKind.TEMPORAL_ORDERED)
        own_tags = (position,) if counted else ()
        values = values_reader(rule.condition.fields)
        if rule.kind is not CorrelationKind.VALUE_COUNT:
            values = None
        groups, track, span, on_arrival = self.groups, self._track, self.span, self.on_arrival
        ordered = self._ordered
        measure = {CorrelationKind.EVENT_COUNT: 0, CorrelationKind.TEMPORAL_ORDERED: 2}.get(
            rule.kind, 1
        )
        steps, at_least, tagged = len(rule.rules), self._at_least, self._tagged
        # Judged on arrival (gt, gte), a temporal_ordered rule keeps a match of a later rule
        # only when a match of its first rule is in the window.
        later_step = on_arrival and measure == 2 and position > 0

        def add(event: Event, time: float, ident: Any) -> Match | None:
            tags = own_tags
            if values is not None:
                tags = values(event)
                if not tags:  # nothing to count
                    return None
            if key_field is not None:  # a single plain group-by field, read inline
                key = event.get(key_field)
                if key.__class__ is not str:
                    key = hashable(key)
            else:
                key = read_key(event)
            window = groups.get(key)
            if later_step:  # in order, nothing can start with a later rule's match
                if window is None:
                    return None
                if window.entries[0] < time - span:
                    window.drop_before(time - span)
                    if not window.entries:  # nothing left: the group is over
                        del groups[key]
                        return None
                if in_order(window, steps) == 0:
                    return None
            if window is None:
                window = groups[key] = Window(time, tagged, True, ordered)
                track(key, window, time + span)
            entries, counts, stride = window.entries, window.counts, window.stride
            if not entries or time >= entries[-stride]:
                entries.append(time)
                entries.append(ident)
                if stride == 3:
                    entries.append(tags)
                chain = window.chain
                if measure == 2 and chain is not None and tags[0] == len(chain) < steps:
                    chain.append(time)
            else:
                window.append(time, ident, tags)
            if counts is not None:
                for tag in tags:
                    counts[tag] = counts.get(tag, 0) + 1
            if not on_arrival:
                return None
            oldest = entries[-stride] - span
            if entries[0] < oldest:
                window.drop_before(oldest)
            if measure == 0:
                reached = len(entries) // stride
            elif measure == 1:
                reached = len(counts or ())
            else:
                reached = in_order(window, steps)
            if reached < at_least:
                return None
            del groups[key]  # its deadline, on the heap or queued, is now stale
            return self._fire(key, window)

        return add

    def _lean_shape(self, position: int) -> bool:
        """Whether the matches of the rule at `position` may be added by a lean adder:
        judged on arrival (gt, gte), grouped by one plain field, and an event_count, a
        temporal, or a value_count of one plain field."""
        rule, kind = self.rule, self.rule.kind
        fields, counted = rule.group_fields[position], rule.condition.fields
        plain = len(fields) == 1 and "." not in fields[0]
        if kind is CorrelationKind.VALUE_COUNT:
            plain = plain and len(counted) == 1 and "." not in counted[0]
        return self.on_arrival and kind is not CorrelationKind.TEMPORAL_ORDERED and plain

    def _lean_adder(self, position: int) -> Adder | None:
        """The general adder cut down to the lean shapes (see `_lean_shape`; None unless
        every rule's matches have one): string values are read inline, and a window counts
        its distinct values or rules only once it holds enough matches for them to meet the
        condition (there are never more of them than its matches, and their extra tags)."""
        if not all(self._lean_shape(n) for n in range(len(self.rule.rules))):
            return None
        rule, kind = self.rule, self.rule.kind
        (key_field,) = rule.group_fields[position]
        by_count = kind is CorrelationKind.EVENT_COUNT
        value_field = rule.condition.fields[0] if kind is CorrelationKind.VALUE_COUNT else None
        values = values_reader(rule.condition.fields)
        own_tags = () if by_count else (position,)
        groups, track, span, at_least = self.groups, self._track, self.span, self._at_least

        def add(event: Event, time: float, ident: Any) -> Match | None:
            tags, extra = own_tags, 0
            if value_field is not None:
                value = event.get(value_field)
                if value.__class__ is str:
                    tags = value  # one text: kept as it is, not in a tuple (see Window)
                elif value.__class__ is list and len(value) == 1 and value[0].__class__ is str:
                    tags = value[0]
                else:
                    tags = values(event)
                    if not tags:  # nothing to count
                        return None
                    extra = len(tags) - 1
            key = event.get(key_field)
            if key.__class__ is not str:
                key = hashable(key)
            window = groups.get(key)
            if window is None:
                window = groups[key] = Window(time, not by_count, False)
                track(key, window, time + span)
            entries, counts = window.entries, window.counts
            if by_count:  # (time, id) a match
                if not entries or time >= entries[-2]:
                    entries.append(time)
                    entries.append(ident)
                else:
                    window.append(time, ident, tags)
                oldest = entries[-2] - span
                while entries[0] < oldest:  # Window.drop_before, inline (the newest stays)
                    entries.popleft()
                    entries.popleft()
                if len(entries) < 2 * at_least:
                    return None
            else:  # (time, id, tags) a match
                if not entries or time >= entries[-3]:
                    entries.append(time)
                    entries.append(ident)
                    entries.append(tags)
                else:
                    window.append(time, ident, tags)
                oldest = entries[-3] - span
                if counts is None:
                    if extra:
                        window.extra += extra
                    while entries[0] < oldest:
                        entries.popleft()
                        entries.popleft()
                        entries.popleft()
                    if len(entries) // 3 + window.extra < at_least:
                        return None
                    counts = window.count()
                else:
                    if tags.__class__ is str:
                        counts[tags] = counts.get(tags, 0) + 1
                    else:
                        for tag in tags:
                            counts[tag] = counts.get(tag, 0) + 1
                    while entries[0] < oldest:
                        entries.popleft()
                        entries.popleft()
                        uncount(counts, entries.popleft())
                if len(counts) < at_least:
                    return None
            del groups[key]  # its deadline, on the heap or queued, is now stale
            return self._fire(key, window)

        return add

    def _track(self, key: Any, window: Window, deadline: float) -> None:
        """Look at the group's new window again at `deadline`. A window judged once over
        gets its own place on the heap; the others queue in `_due`, where a late event's
        deadline is moved to the last one's (so that the queue stays in order: such a window
        is forgotten a little later, never sooner), and only the queue's first deadline is
        on the heap (the first of a queue that was empty pushes it; see `_forget`)."""
        if not self.on_arrival:
            heapq.heappush(self._deadlines, (deadline, next(_tickets), self, key, window))
            return
        due = self._due
        if not due:
            heapq.heappush(self._deadlines, (deadline, next(_tickets), self, _QUEUE, None))
        elif deadline < due[-3]:
            deadline = due[-3]
        due.append(deadline)
        due.append(key)
        due.append(window)

    def expire(self, key: Any, window: Window | None, now: float) -> Match | None:
        """A deadline on the heap passed at `now`: judge (lt, lte, eq) the window, or see to
        the queue of the windows judged on arrival."""
        if key is _QUEUE:
            self._forget(now)
            return None
        if window is None or self.groups.get(key) is not window:
            return None  # closed already
        del self.groups[key]
        if window.entries and self._holds(window):
            return self._fire(key, window)
        return None

    def _forget(self, now: float) -> None:
        """The queued deadlines that passed at `now`: forget each group that saw nothing
        for a timespan, or drop its old matches and queue it again for when it will have
        been quiet that long; then put the queue's new first deadline on the heap."""
        due, groups, span = self._due, self.groups, self.span
        while due and due[0] < now:
            due.popleft()
            key = due.popleft()
            window = due.popleft()
            if groups.get(key) is not window:
                continue  # fired already: its group started afresh, or is gone
            newest = window.entries[-window.stride] if window.entries else window.opened
            if newest + span < now:
                del groups[key]
                continue
            window.drop_before(newest - span)
            later = newest + span  # at least `now`: the loop ends
            if due and later < due[-3]:
                later = due[-3]
            due.append(later)
            due.append(key)
            due.append(window)
        if due:
            heapq.heappush(self._deadlines, (due[0], next(_tickets), self, _QUEUE, None))

    def _fire(self, key: Any, window: Window) -> Match:
        group = (key,) if self._single else key
        entries = window.entries
        return Match(self.rule, group, window.event_ids(), entries[0], entries[-window.stride])


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
        return lambda window: compare(window.size(), count)
    if rule.kind is not CorrelationKind.TEMPORAL_ORDERED:
        return lambda window: compare(len(window.counts or ()), count)
    steps = len(rule.rules)
    return lambda window: compare(in_order(window, steps), count)
