"""Evaluate a rule set over a stream of events: detections per event, correlations over time.

    rules = load_rules(text)
    detector = Detector(rules, id_field="seq", time_field="time")
    for event in events:               # roughly in time order
        for firing in detector.observe(event):
            ...                        # firing.rule, firing.group, firing.event_ids
    detector.advance(now)              # close the windows that ended, when no event comes

The detector's clock is the latest time of the events that matched a rule some correlation
refers to (and of `advance`); windows are closed and forgotten as it moves on.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from coffre.watch.correlation import Adder, Windows
from coffre.watch.errors import WatchError
from coffre.watch.rules import CorrelationRule, DetectionRule, Response, Rule
from coffre.watch.values import MISSING, Event, getter, path_of
from coffre.watch.window import Many, Match

if TYPE_CHECKING:
    from coffre.watch.ruleset import RuleSet  # pySigma: imported when rules are loaded


class Firing(NamedTuple):
    """A rule fired. For a detection rule: the one event that matched, no group and no
    times. For a correlation rule: its group (the group-by values, in the rule's order),
    the ids of the events that made it fire, in time order, and the first and last times."""

    rule: Rule
    event_ids: tuple[Any, ...]
    group: tuple[Any, ...] = ()
    start: datetime | None = None
    end: datetime | None = None

    @property
    def response(self) -> Response | None:
        """The response the rule asks for, if any."""
        return self.rule.response

    @property
    def grouped_by(self) -> dict[str, Any]:
        """The group as a mapping from group-by name to value (empty for a detection)."""
        if isinstance(self.rule, CorrelationRule):
            return dict(zip(self.rule.group_by, self.group, strict=True))
        return {}


# One detection rule as the detector routes to it: the rule, whether its matches are
# reported, and how to add its matches to the correlations that refer to it.
_Route = tuple[DetectionRule, bool, tuple[Adder, ...]]


class Detector:
    """The state of one evaluation of a rule set: correlation windows and a clock.

    Event times are read from `time_field`: an aware datetime, or ISO 8601 text with an
    offset (`2026-11-23T05:23:14.123456Z`). Event ids are read from `id_field` (None when
    absent). Only events that match a rule some correlation refers to need a time."""

    def __init__(self, rules: RuleSet, *, id_field: str = "seq", time_field: str = "time") -> None:
        self.rules = rules
        self.id_field = id_field
        self.time_field = time_field
        self._deadlines: list[Any] = []
        windows = {id(rule): Windows(rule, self._deadlines) for rule in rules.correlations}
        self._windows = tuple(windows.values())
        listeners: dict[int, list[Adder]] = {}
        for rule in rules.correlations:
            for source in rule.rules:
                listeners.setdefault(id(source), []).append(windows[id(rule)].adder(source))
        self._listeners = {key: tuple(found) for key, found in listeners.items()}
        self._router = rules.router.map(self._route)
        self._route_field = self._router.field
        self._routes = self._router.routes  # by the text the field holds, as it is spelled
        self._minutes: dict[str, float | None] = {}  # "YYYY-MM-DDTHH:MM" → epoch seconds
        self._last_minute, self._last_base = "\0", 0.0  # the minute `_time_of` read last
        self._read_id = getter(id_field)
        self._read_time = getter(time_field)
        # A plain (undotted) id or time field is read inline, with `get`.
        self._id_key = id_field if path_of(id_field) is None else None
        self._time_key = time_field if path_of(time_field) is None else None
        self._clock = -math.inf

    def _route(self, rule: DetectionRule) -> _Route:
        return (rule, rule.reported, self._listeners.get(id(rule), ()))

    @property
    def clock(self) -> datetime | None:
        """The latest time the detector has seen (None before the first)."""
        return None if self._clock == -math.inf else _moment(self._clock)

    @property
    def held_events(self) -> int:
        """How many matches the correlation windows hold (bounded by the last two timespans')."""
        return sum(windows.held() for windows in self._windows)

    def observe(self, event: Event) -> list[Firing]:
        """Evaluate one event: the firings of the detection rules it matches (those that are
        reported) and of the correlations it completes, in that order. Raise WatchError if
        the event matches a rule a correlation refers to and has no usable time."""
        field = self._route_field
        value = event.get(field) if field is not None else None
        if value.__class__ is str:  # the usual case of Router.select, inline
            select = self._routes.get(value)
            matched = select(event) if select is not None else self._router.route(value)(event)
        else:
            matched = self._router.select(event)
        fired: list[Firing] = []
        if not matched:
            return fired
        key = self._id_key
        event_id = event.get(key) if key is not None else self._event_id(event)
        time = None
        for rule, reported, listeners in matched:
            if reported:
                fired.append(Firing(rule, (event_id,)))
            if not listeners:
                continue
            if time is None:
                time = self._time_of(event)
                if time > self._clock:
                    self._clock = time
                    if self._deadlines and self._deadlines[0][0] < time:
                        self._expire(fired)
            for add in listeners:
                match = add(event, time, event_id)
                if match is not None:
                    self._fired(match, fired)
        return fired

    def advance(self, now: datetime) -> list[Firing]:
        """Move the clock to `now` (never back): judge the lt, lte and eq windows that ended
        and forget the groups that went quiet; return the firings."""
        fired: list[Firing] = []
        self._move_clock(self._seconds(now), fired)
        return fired

    def _event_id(self, event: Event) -> Any:
        value = self._read_id(event)
        return None if value is MISSING else value

    def _move_clock(self, time: float, fired: list[Firing]) -> None:
        if time > self._clock:
            self._clock = time
        self._expire(fired)

    def _expire(self, fired: list[Firing]) -> None:
        deadlines, clock = self._deadlines, self._clock
        while deadlines and deadlines[0][0] < clock:
            _, _, windows, key, window = heapq.heappop(deadlines)
            match = windows.expire(key, window, clock)
            if match is not None:
                self._fired(match, fired)

    def _fired(self, match: Match, fired: list[Firing]) -> None:
        rule = match.rule
        firing = Firing(
            rule, match.event_ids, match.group, _moment(match.start), _moment(match.end)
        )
        if rule.reported:
            fired.append(firing)
        listeners = self._listeners.get(id(rule))
        if listeners:  # a correlation of correlations: this firing is one of its matches
            event: Mapping[str, Any] = dict(zip(rule.group_by, match.group, strict=True))
            for add in listeners:
                chained = add(event, match.end, Many(match.event_ids))
                if chained is not None:
                    self._fired(chained, fired)

    def _time_of(self, event: Event) -> float:
        """The event's time in seconds since the epoch. The journal's own spelling,
        2026-11-23T05:23:14.123456Z, is read here at once: the minute from the cache (most
        often the last event's minute, compared in place), the seconds as a number; anything
        else goes through `_seconds`."""
        key = self._time_key
        raw = event.get(key) if key is not None else self._read_time(event)
        if raw.__class__ is str and len(raw) == 27 and raw[26] == "Z" and raw[19] == ".":
            if raw.startswith(self._last_minute):
                base: float | None = self._last_base
            else:
                base = self._minutes.get(raw[:16])
                if base is not None:
                    self._last_minute, self._last_base = raw[:16], base
            if base is not None and raw[16] == ":":
                try:
                    second = float(raw[17:26])
                except ValueError:
                    second = -1.0
                if 0.0 <= second < 61.0:
                    return base + second
        return self._seconds(raw)

    def _seconds(self, value: Any) -> float:
        if value.__class__ is str and len(value) == 27 and value[26] == "Z":
            # The journal's own spelling, 2026-11-23T05:23:14.123456Z: the minute is parsed
            # once and cached, the seconds read as a number (a full parse costs 3 times more).
            base = self._minutes.get(value[:16], -1.0)
            if base == -1.0:
                base = self._minute(value[:16])
            if base is not None and value[16] == ":" and value[19] == ".":
                try:
                    second = float(value[17:26])
                except ValueError:
                    second = -1.0
                if 0.0 <= second < 61.0:
                    return base + second
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                raise WatchError(
                    f"The event's '{self.time_field}' is not an ISO 8601 time."
                ) from None
        if not isinstance(value, datetime):
            raise WatchError(f"The event has no time in its field '{self.time_field}'.")
        if value.utcoffset() is None:
            raise WatchError(f"The event's '{self.time_field}' is a time without a time zone.")
        return value.timestamp()

    def _minute(self, prefix: str) -> float | None:
        base = None
        if prefix[4] == "-" and prefix[7] == "-" and prefix[10] == "T" and prefix[13] == ":":
            try:
                base = datetime.fromisoformat(prefix + ":00+00:00").timestamp()
            except ValueError:
                base = None
        if len(self._minutes) >= 10_000:
            self._minutes.clear()
        self._minutes[prefix] = base
        return base


def _moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
