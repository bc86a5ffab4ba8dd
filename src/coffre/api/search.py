"""Search results as FHIR searchset Bundles, and the matching of `date` and token
parameters on resources a service has opened.

A searchset never carries `total`: the number of matches a caller may not see is not theirs
to learn, and the number they may see they can count. Paging goes through `next` links.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from coffre.api.outcomes import Problem

# The system of the codes of Coffre's own data categories (e.g. "results", "documents").
CATEGORY_SYSTEM = "urn:coffre:category"

_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
_PARTIAL = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(T.+)?)?)?$")


def searchset(
    base: str,
    path: str,
    params: dict[str, list[str]],
    resources: Iterable[dict[str, Any]],
    next_params: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """A searchset Bundle with a `self` link and, when there is more, a `next` one."""

    def link(relation: str, given: dict[str, list[str]]) -> dict[str, str]:
        query = urlencode([(k, v) for k, values in sorted(given.items()) for v in values])
        return {"relation": relation, "url": f"{base}/{path}" + (f"?{query}" if query else "")}

    links = [link("self", params)] + ([link("next", next_params)] if next_params else [])
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": links,
        "entry": [
            {
                "fullUrl": f"{base}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ],
    }


def no_total(base: str, path: str, params: dict[str, list[str]]) -> dict[str, Any]:
    """The answer to `_count=0`, which asks how many resources match (FHIR's
    `_summary=count`): a searchset with no entries and no `total`, and an informational
    OperationOutcome that says why (search.mode `outcome`)."""
    bundle = searchset(base, path, params, [])
    note = {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "information",
                "code": "informational",
                "diagnostics": "This server gives no totals (_count=0): ask for a page "
                "(_count from 1 to 200) and follow its next links.",
            }
        ],
    }
    bundle["entry"] = [{"resource": note, "search": {"mode": "outcome"}}]
    return bundle


def next_page(
    params: dict[str, list[str]], offset: int, count: int, more: bool
) -> dict[str, list[str]] | None:
    """The parameters of the next page of an offset-paged search, if there is one."""
    return {**params, "_offset": [str(offset + count)]} if more else None


def _interval(text: str, name: str) -> tuple[datetime, datetime]:
    """The span a FHIR date, dateTime or instant covers (a year, a month, a day, a second)."""
    match = _PARTIAL.match(text.strip())
    if match is None:
        raise Problem(400, "invalid", f"{name} must be a date such as 2026-03-01.", name)
    year, month, day, time = match.groups()
    try:
        if time:
            moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return moment, moment + timedelta(seconds=1)
        start = datetime(int(year), int(month or 1), int(day or 1), tzinfo=UTC)
    except ValueError:
        raise Problem(400, "invalid", f"{name} is not a date that exists.", name) from None
    if day:
        return start, start + timedelta(days=1)
    if month:
        following = datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)
        return start, following
    return start, datetime(start.year + 1, 1, 1, tzinfo=UTC)


def date_filter(
    values: list[str] | None, name: str = "date"
) -> list[tuple[str, datetime, datetime]]:
    """Parse `date` parameters (each with an optional prefix: eq, ne, gt, lt, ge, le)."""
    parsed = []
    for value in values or []:
        prefix = value[:2] if value[:2] in _PREFIXES else "eq"
        if prefix in ("sa", "eb", "ap"):
            raise Problem(400, "not-supported", f"The {prefix} prefix is not supported.", name)
        start, end = _interval(value[2:] if value[:2] in _PREFIXES else value, name)
        parsed.append((prefix, start, end))
    return parsed


def date_matches(value: str | None, wanted: list[tuple[str, datetime, datetime]]) -> bool:
    """Whether a resource's date meets every `date` parameter (FHIR's range semantics)."""
    if not wanted:
        return True
    if not value:
        return False
    try:
        start, end = _interval(value, "date")
    except Problem:
        return False
    for prefix, low, high in wanted:
        ok = {
            "eq": low <= start and end <= high,
            "ne": not (low <= start and end <= high),
            "gt": end > high,
            "lt": start < low,
            "ge": end > low,
            "le": start < high,
        }[prefix]
        if not ok:
            return False
    return True


def codings(resource: dict[str, Any], element: str) -> list[tuple[str, str]]:
    """The (system, code) pairs of a CodeableConcept (or a list of them) in the resource."""
    found = resource.get(element) or []
    concepts = found if isinstance(found, list) else [found]
    return [
        (str(c.get("system", "")), str(c.get("code", "")))
        for concept in concepts
        if isinstance(concept, dict)
        for c in concept.get("coding") or []
        if isinstance(c, dict)
    ]


def token_matches(pairs: list[tuple[str, str]], values: list[str] | None) -> bool:
    """Whether any coding matches one of the token parameter's values (`code` or
    `system|code`), as FHIR's comma-separated OR within a parameter."""
    if not values:
        return True
    for value in values:
        for token in value.split(","):
            system, bar, code = token.rpartition("|")
            for have_system, have_code in pairs:
                if have_code == code and (not bar or have_system == system):
                    return True
    return False


def patient_id_of(reference: str | None, name: str = "patient") -> str:
    """The patient id of a `patient` parameter or a reference (`Patient/ID` or `ID`)."""
    if not reference:
        raise Problem(400, "required", f"Say whose record to search with {name}.", name)
    kind, _, ident = reference.rpartition("/")
    if (kind and kind.rsplit("/", 1)[-1] != "Patient") or not re.fullmatch(
        r"[A-Za-z0-9\-.]{1,64}", ident
    ):
        raise Problem(400, "invalid", f"{name} must be a Patient reference.", name)
    return ident
