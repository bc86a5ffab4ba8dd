"""A correlation group's window: its matches in time order, held flat, and what they count.

See coffre.watch.correlation for how windows are opened, filled, judged and closed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any, NamedTuple

from coffre.watch.rules import CorrelationRule


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
    """The matches of one group, in time order, held flat in `entries`: for each, its time,
    its event id (or Many), and for the types that count something its tags (the values of
    a value_count, the rule's position for temporal types), which `counts` counts: `stride`
    items a match. A match so costs no tuple of its own, to build or to free, and a group no
    more than one deque. Tags are a tuple, or a lean window's one text as it is (the usual
    value_count of one patient: no tuple either).

    A lean window (see `correlation.Windows._lean_adder`) counts its tags only once it
    holds enough of them to meet the condition: until then `counts` is None, and `extra` is
    an upper bound of the tags it holds beyond one per match."""

    __slots__ = ("chain", "counts", "entries", "extra", "opened", "stride")

    def __init__(
        self, opened: float, tagged: bool, counting: bool = True, ordered: bool = False
    ) -> None:
        self.entries: deque[Any] = deque()
        self.stride = 3 if tagged else 2
        self.counts: dict[Any, int] | None = {} if counting and tagged else None
        self.extra = 0
        self.opened = opened
        # For temporal_ordered: the times of the earliest matches of the rules one after the
        # other (the first rule's earliest match, the second's earliest after it, …); None
        # when it must be found again by going through the window (or is not wanted).
        self.chain: list[float] | None = [] if ordered else None

    def size(self) -> int:
        """How many matches the window holds."""
        return len(self.entries) // self.stride

    def matches(self) -> Iterator[tuple[float, Any, tuple[Any, ...] | str]]:
        """The matches as (time, event id or Many, tags), in time order."""
        items = iter(self.entries)
        if self.stride == 3:
            return zip(items, items, items, strict=False)  # the same iterator: by threes
        return ((time, ident, ()) for time, ident in zip(items, items, strict=False))

    def append(self, time: float, ident: Any, tags: tuple[Any, ...] | str) -> None:
        """Add a match, keeping the window in time order."""
        entries, stride = self.entries, self.stride
        position = len(entries)
        while position and entries[position - stride] > time:
            position -= stride
        if stride == 3:
            entries.insert(position, tags)
        entries.insert(position, ident)
        entries.insert(position, time)
        if position < len(entries) - stride:
            self.chain = None  # it came a little late

    def drop_before(self, limit: float) -> None:
        entries, counts, tagged = self.entries, self.counts, self.stride == 3
        if self.chain and self.chain[0] < limit:
            self.chain = None  # its first match leaves: the chain may start later now
        while entries and entries[0] < limit:
            entries.popleft()
            entries.popleft()
            if tagged:
                tags = entries.popleft()
                if counts is not None:
                    uncount(counts, tags)

    def count(self) -> dict[Any, int]:
        """Start counting the tags of a lean window: `counts`, from its matches."""
        counts: dict[Any, int] = {}
        for _, _, tags in self.matches():
            if tags.__class__ is str:
                counts[tags] = counts.get(tags, 0) + 1
                continue
            for tag in tags:
                counts[tag] = counts.get(tag, 0) + 1
        self.counts = counts
        return counts

    def event_ids(self) -> tuple[Any, ...]:
        seen: dict[Any, None] = {}
        for _, ident, _ in self.matches():
            if ident.__class__ is Many:
                for event_id in ident:
                    seen[event_id] = None
            else:
                seen[ident] = None
        return tuple(seen)


def uncount(counts: dict[Any, int], tags: tuple[Any, ...] | str) -> None:
    for tag in (tags,) if tags.__class__ is str else tags:
        left = counts[tag] - 1
        if left:
            counts[tag] = left
        else:
            del counts[tag]


def in_order(window: Window, steps: int) -> int:
    """How many of a temporal_ordered rule's rules matched one after the other, in order."""
    if window.chain is None:
        chain: list[float] = []
        for time, _, (position,) in window.matches():
            if position == len(chain):
                chain.append(time)
                if len(chain) == steps:
                    break
        window.chain = chain
    return len(window.chain)
