"""SMART on FHIR scopes (v2, with the v1 `.read`/`.write` forms): parsed, compared, narrowed.

A scope is `context/Resource.permissions`: the context `system` (a machine client),
`user` (a person's token) or `patient`; a FHIR resource type or `*`; permissions from
`cruds` in that order (create, read, update, delete, search). The v1 forms map to v2:
`.read` is `rs`, `.write` is `cud` and `.*` is `cruds`. Pure functions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from coffre.identity.errors import InvalidScope

CONTEXTS = ("system", "user", "patient")
OPERATIONS = "cruds"
_V1 = {"read": "rs", "write": "cud", "*": "cruds"}
_SCOPE = re.compile(r"(system|user|patient)/(\*|[A-Z][A-Za-z]{0,63})\.(.+)")
_PERMISSIONS = re.compile(r"c?r?u?d?s?")
_LONGEST = 1000  # characters of a scope string, as stored


@dataclass(frozen=True, order=True)
class Scope:
    context: str
    resource: str  # a FHIR resource type, or "*" for all
    permissions: str  # letters of "cruds", in that order

    def __str__(self) -> str:
        return f"{self.context}/{self.resource}.{self.permissions}"

    def covers(self, other: Scope) -> bool:
        """Whether this scope allows everything `other` does."""
        return (
            self.context == other.context
            and self.resource in ("*", other.resource)
            and set(other.permissions) <= set(self.permissions)
        )


def parse_scope(text: str) -> Scope:
    """One scope; raise InvalidScope with a one-sentence reason."""
    if "?" in text:
        raise InvalidScope(f"The scope {text[:80]!r} has parameters, which are not supported.")
    found = _SCOPE.fullmatch(text)
    if found is None:
        raise InvalidScope(
            f"The scope {text[:80]!r} is not of the form system/Patient.rs "
            "(system, user or patient; a resource type or *; permissions from cruds)."
        )
    context, resource, permissions = found.groups()
    permissions = _V1.get(permissions, permissions)
    if not permissions or not _PERMISSIONS.fullmatch(permissions):
        raise InvalidScope(
            f"The scope {text[:80]!r} must give its permissions as letters of cruds, in "
            "that order, or as read or write."
        )
    return Scope(context, resource, permissions)


def normalise(scopes: Iterable[Scope]) -> tuple[Scope, ...]:
    """The same permissions, one scope per context and resource, sorted."""
    merged: dict[tuple[str, str], set[str]] = {}
    for scope in scopes:
        merged.setdefault((scope.context, scope.resource), set()).update(scope.permissions)
    return tuple(
        Scope(context, resource, "".join(p for p in OPERATIONS if p in letters))
        for (context, resource), letters in sorted(merged.items())
    )


def parse_scopes(text: str | Iterable[str], *, context: str | None = None) -> tuple[Scope, ...]:
    """Scopes separated by spaces (or given one by one), normalised; at least one. With
    `context`, every scope must be of that context."""
    words = text.split() if isinstance(text, str) else [w for t in text for w in t.split()]
    if not words:
        raise InvalidScope("At least one scope is needed, such as system/Patient.rs.")
    parsed = normalise(parse_scope(word) for word in words)
    if context is not None:
        for scope in parsed:
            if scope.context != context:
                raise InvalidScope(f"The scope {str(scope)!r} must begin with {context}/.")
    if len(format_scopes(parsed)) > _LONGEST:
        raise InvalidScope(f"The scopes are longer than {_LONGEST} characters.")
    return parsed


def format_scopes(scopes: Iterable[Scope]) -> str:
    """Scopes as one space-separated string (the OAuth `scope` parameter)."""
    return " ".join(map(str, normalise(scopes)))


def allows(
    scopes: Iterable[Scope], resource: str, operation: str, *, context: str | None = None
) -> bool:
    """Whether the scopes allow one operation (a letter of cruds) on a resource type (of
    any context, or of `context` only)."""
    if len(operation) != 1 or operation not in OPERATIONS:
        raise ValueError(f"unknown operation {operation!r}")
    return any(
        scope.resource in ("*", resource)
        and operation in scope.permissions
        and (context is None or scope.context == context)
        for scope in scopes
    )


def within(requested: Iterable[Scope], granted: Iterable[Scope]) -> bool:
    """Whether every requested scope is covered by the granted ones: a request may narrow,
    never widen."""
    granted = tuple(granted)
    for scope in requested:
        for letter in scope.permissions:
            single = Scope(scope.context, scope.resource, letter)
            if not any(g.covers(single) for g in granted):
                return False
    return True
