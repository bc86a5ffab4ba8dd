"""Tests of one event field against the values of a rule, as fast closures.

A test takes the event (a mapping of field names to values) and answers True or False. Field
names are flat keys; a name with dots (`actor.id`) is also looked up through nested mappings
when the event has no key spelled that way. Every string comparison is case-insensitive
(both sides are compared after `str.casefold`) unless the rule says `cased`; a field that
holds a list or tuple matches when one of its elements does.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

Event = Mapping[str, Any]
Predicate = Callable[[Event], bool]
ValueTest = Callable[[Any], bool]
TextTest = Callable[[str], bool]


class _Missing:
    """What a field holds when the event does not have it."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()
_CACHED_ADDRESSES = 65_536  # per cidr test; the cache starts afresh when full
_SEQUENCES = (list, tuple)


def path_of(field: str) -> tuple[str, ...] | None:
    """The nested path a dotted name also stands for; None for a flat name."""
    return tuple(field.split(".")) if "." in field else None


def walk(event: Event, path: tuple[str, ...]) -> Any:
    """The value at `path` through nested mappings; MISSING if any step is absent."""
    value: Any = event
    for part in path:
        if not isinstance(value, Mapping):
            return MISSING
        value = value.get(part, MISSING)
        if value is MISSING:
            return MISSING
    return value


def getter(field: str) -> Callable[[Event], Any]:
    """A function reading `field` of an event (flat key first, then the dotted path)."""
    path = path_of(field)
    if path is None:
        return lambda event: event.get(field, MISSING)

    def get(event: Event) -> Any:
        value = event.get(field, MISSING)
        return walk(event, path) if value is MISSING else value

    return get


def as_text(value: Any) -> str | None:
    """How a scalar is compared as text: strings as they are, numbers and booleans as
    written in a rule (`true`, `42`); None for anything else."""
    if value.__class__ is str:
        return value  # type: ignore[no-any-return]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    return None


def as_number(value: Any) -> float | int | None:
    """The number a value stands for (a number, or text that reads as one); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


# building blocks ---------------------------------------------------------------------------


def field_test(field: str, test: ValueTest) -> Predicate:
    """A predicate passing the field's value (MISSING when absent) to `test`."""
    path = path_of(field)
    if path is None:
        return lambda event: test(event.get(field, MISSING))

    def predicate(event: Event) -> bool:
        value = event.get(field, MISSING)
        if value is MISSING:
            value = walk(event, path)
        return test(value)

    return predicate


def on_text(match: TextTest, fold: bool) -> ValueTest:
    """A value test applying `match` to the value as text (casefolded when `fold`), or to
    each element of a list; other values never match."""

    def test(value: Any) -> bool:
        if value.__class__ is str:
            return match(value.casefold() if fold else value)
        if isinstance(value, _SEQUENCES):
            return any(test(item) for item in value)
        text = as_text(value)
        if text is None:
            return False
        return match(text.casefold() if fold else text)

    return test


def text_match(kind: str, target: Any) -> TextTest:
    """One text comparison; `kind` is eq, in, prefix, suffix, contains or pattern (a
    compiled regular expression that must match the whole text)."""
    if kind == "eq":
        return lambda text: text == target
    if kind == "in":
        return lambda text: text in target
    if kind == "prefix":
        return lambda text: text.startswith(target)
    if kind == "suffix":
        return lambda text: text.endswith(target)
    if kind == "contains":
        return lambda text: target in text
    if kind == "pattern":
        return lambda text: target.fullmatch(text) is not None
    raise ValueError(kind)  # pragma: no cover - the compiler only asks for the kinds above


def text_slow(field: str, kind: str, target: Any, fold: bool) -> Predicate:
    """The predicate of one text comparison for any value: text, a list, a number, a value
    under a dotted name."""
    return field_test(field, on_text(text_match(kind, target), fold))


def regex_test(pattern: re.Pattern[str]) -> ValueTest:
    """A value test searching the regular expression anywhere in the value (Sigma's `re`:
    anchors are written `^` and `$`), case-sensitively unless its own flags say otherwise."""
    return on_text(lambda text: pattern.search(text) is not None, fold=False)


class AddressCache(dict[str, bool]):
    """Whether each address text (`cache[text]`) is inside the network. Parsing an address
    is slow and the same few sources come back all the time: each text is parsed once, and
    the cache starts afresh when full."""

    __slots__ = ("network",)

    def __init__(self, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> None:
        super().__init__()
        self.network = network

    def __missing__(self, text: str) -> bool:
        try:
            found = ipaddress.ip_address(text.strip()) in self.network
        except ValueError:
            found = False
        if len(self) >= _CACHED_ADDRESSES:
            self.clear()
        self[text] = found
        return found


def cidr_test(
    network: ipaddress.IPv4Network | ipaddress.IPv6Network,
) -> tuple[ValueTest, AddressCache]:
    """A value test for an address (text or ipaddress object) inside `network`, and the cache
    answering it for an address as text (generated code indexes it inline)."""
    known = AddressCache(network)
    match = on_text(known.__getitem__, fold=False)

    def test(value: Any) -> bool:
        if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
            return value in network
        return match(value)

    return test, known


def regex_literal(pattern: re.Pattern[str]) -> tuple[str, str] | None:
    """When searching the regular expression is a plain text test, that test: ("prefix",
    text) for `^text`, ("contains", text) for `text`, `text` holding no special character
    and the expression no flag that changes it; None otherwise. (`text$` is not `endswith`:
    `$` also matches before a final newline.)"""
    if pattern.flags & ~(re.UNICODE | re.DOTALL):
        return None
    source = pattern.pattern
    anchored = source.startswith("^")
    text = source[1:] if anchored else source
    if not text or re.escape(text) != text:
        return None
    return ("prefix" if anchored else "contains", text)


def number_test(match: Callable[[float | int], bool]) -> ValueTest:
    """A value test applying `match` to the value as a number (numbers, and text that reads
    as one), or to each element of a list."""

    def test(value: Any) -> bool:
        if isinstance(value, _SEQUENCES):
            return any(test(item) for item in value)
        number = as_number(value)
        return number is not None and match(number)

    return test


def bool_test(expected: bool) -> ValueTest:
    """A value test for a boolean, also written as the text `true` or `false`."""
    spelled = "true" if expected else "false"

    def test(value: Any) -> bool:
        if isinstance(value, bool):
            return value is expected
        if isinstance(value, str):
            return value.strip().casefold() == spelled
        if isinstance(value, _SEQUENCES):
            return any(test(item) for item in value)
        return False

    return test


def null_test(value: Any) -> bool:
    """Sigma's null: the field is absent or holds None."""
    return value is MISSING or value is None


def exists_test(expected: bool) -> ValueTest:
    """Sigma's `exists`: the field is present (whatever its value, even None) or not."""
    if expected:
        return lambda value: value is not MISSING
    return lambda value: value is MISSING


def keyword_leaf(match: TextTest, fold: bool) -> Predicate:
    """A field-less (keyword) test: True when one of the event's values, at any depth of
    nested mappings and lists, matches as text."""
    test = on_text(match, fold)

    def search(value: Any) -> bool:
        if isinstance(value, Mapping):
            return any(search(item) for item in value.values())
        if isinstance(value, _SEQUENCES):
            return any(search(item) for item in value)
        return test(value)

    return lambda event: any(search(value) for value in event.values())


def reference_leaf(field: str, other: str, kind: str, fold: bool) -> Predicate:
    """Sigma's `fieldref`: the field's text equals (or, for kind prefix, suffix or contains,
    starts with, ends with or contains) the text of another field of the same event."""
    get, get_other = getter(field), getter(other)

    def leaf(event: Event) -> bool:
        value, reference = as_text(get(event)), as_text(get_other(event))
        if value is None or reference is None:
            return False
        if fold:
            value, reference = value.casefold(), reference.casefold()
        if kind == "prefix":
            return value.startswith(reference)
        if kind == "suffix":
            return value.endswith(reference)
        if kind == "contains":
            return reference in value
        return value == reference

    return leaf


# values counted by correlations ------------------------------------------------------------


def key_reader(fields: tuple[str, ...]) -> Callable[[Event], Any]:
    """A function reading the group key: the value of a single group-by field (None if
    absent), or the tuple of the values of several."""
    if len(fields) == 1 and "." not in fields[0]:
        (name,) = fields

        def one(event: Event) -> Any:
            value = event.get(name)
            return value if value.__class__ is str else hashable(value)

        return one
    readers = [getter(name) for name in fields]
    if len(readers) == 1:
        (read,) = readers
        return lambda event: hashable(read(event))
    return lambda event: tuple(hashable(read(event)) for read in readers)


def hashable(value: Any) -> Any:
    if value is MISSING:
        return None
    if isinstance(value, (list, tuple)):
        return tuple(hashable(item) for item in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), hashable(v)) for k, v in value.items()))
    if isinstance(value, set):
        return tuple(sorted(map(str, value)))
    return value


def values_reader(fields: tuple[str, ...]) -> Callable[[Event], tuple[Any, ...]]:
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
                return tuple({hashable(item): None for item in value if item is not None})
            return (hashable(value),)

        return one
    readers = [getter(name) for name in fields]
    if len(readers) == 1:
        (read,) = readers

        def dotted(event: Event) -> tuple[Any, ...]:
            value = read(event)
            if value is MISSING or value is None:
                return ()
            if isinstance(value, (list, tuple)):
                return tuple({hashable(item): None for item in value if item is not None})
            return (hashable(value),)

        return dotted

    def combined(event: Event) -> tuple[Any, ...]:
        values = tuple(hashable(read(event)) for read in readers)
        return () if all(value is None for value in values) else (values,)

    return combined
