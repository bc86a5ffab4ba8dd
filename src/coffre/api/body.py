"""What the API reads from a request before calling a service: a FHIR JSON body (bounded in
size and depth, of the expected resource type, valid R4 with the path of the first
problem) and search parameters (unknown ones ignored, or refused when the client asks with
`Prefer: handling=strict`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from fastapi import Request
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from coffre.api.outcomes import Problem

JSON_TYPES = ("application/fhir+json", "application/json")
# Parameters every search understands: paging, and those FHIR defines for formats.
COMMON_PARAMETERS = frozenset({"_count", "_offset", "_format"})


def _too_deep(value: Any, limit: int) -> bool:
    """Whether the JSON value nests deeper than `limit` (iteratively: no recursion limit)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)
    return False


def _path(resource_type: str, loc: Iterable[Any]) -> str:
    path = resource_type
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not str(part).startswith("function-"):
            path += f".{part}"
    return path


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The body, refused (413) past `max_bytes` whether or not a length was announced."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in JSON_TYPES:
        raise Problem(415, "not-supported", "Send the resource as application/fhir+json.")
    announced = request.headers.get("content-length", "")
    if announced.isdigit() and int(announced) > max_bytes:
        raise Problem(413, "too-costly", f"The body is larger than {max_bytes} bytes.")
    body = bytearray()
    async for piece in request.stream():
        body += piece
        if len(body) > max_bytes:
            raise Problem(413, "too-costly", f"The body is larger than {max_bytes} bytes.")
    return bytes(body)


async def read_resource(
    request: Request,
    expected: Iterable[str],
    *,
    max_bytes: int,
    max_depth: int,
    resource_id: str | None = None,
) -> dict[str, Any]:
    """The FHIR resource in the body: JSON, no deeper than `max_depth`, one of the
    `expected` types, valid FHIR R4, and (for an update) carrying the id of the URL."""
    raw = await read_body(request, max_bytes)
    try:
        resource = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if hasattr(exc, "lineno") else ""
        raise Problem(400, "structure", f"The body is not valid JSON{where}.") from None
    if _too_deep(resource, max_depth):
        raise Problem(400, "too-costly", f"The JSON nests deeper than {max_depth} levels.")
    kinds = sorted(expected)
    if not isinstance(resource, dict) or resource.get("resourceType") not in kinds:
        raise Problem(
            400,
            "invalid",
            f"The body must be a {' or '.join(kinds)} resource.",
            "resourceType",
        )
    name = str(resource["resourceType"])
    if resource_id is not None and resource.get("id") != resource_id:
        raise Problem(400, "invalid", "The resource's id must be the id in the URL.", f"{name}.id")
    try:
        get_fhir_model_class(name).model_validate(resource)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise Problem(
            400,
            "invalid",
            f"The {name} is not valid FHIR R4: {first['msg']}.",
            _path(name, first["loc"]),
        ) from None
    return resource


def search_parameters(request: Request, known: Iterable[str]) -> dict[str, list[str]]:
    """The search parameters of the request that this search understands. Others are
    ignored, unless the client sent `Prefer: handling=strict` (then 400)."""
    understood = COMMON_PARAMETERS | frozenset(known)
    given: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        given.setdefault(name, []).append(value)
    unknown = sorted(set(given) - understood)
    if unknown and "handling=strict" in request.headers.get("prefer", "").replace(" ", ""):
        raise Problem(
            400,
            "not-supported",
            f"Unknown search parameter: {', '.join(unknown)}.",
            # A parameter without a name (`?=x`) cannot be pointed at: FHIR strings are
            # never empty.
            next((name for name in unknown if name), None),
        )
    return {k: v for k, v in given.items() if k in understood}


def one(params: dict[str, list[str]], name: str) -> str | None:
    """The one value of a parameter (400 if repeated)."""
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise Problem(400, "invalid", f"Give {name} once.", name)
    return values[0]


# Whole-number parameters have at most 18 digits: any larger would not fit the database's
# 64-bit integers (a paging cursor is compared with them).
MAX_DIGITS = 18


def number(params: dict[str, list[str]], name: str, default: int) -> int:
    """A non-negative integer parameter such as _count or _offset: ASCII digits, at most
    MAX_DIGITS of them."""
    value = one(params, name)
    if value is None:
        return default
    # str.isdigit() alone also accepts digits int() cannot read, such as "²".
    if not (value.isascii() and value.isdigit()) or len(value) > MAX_DIGITS:
        raise Problem(
            400, "invalid", f"{name} must be a whole number of at most {MAX_DIGITS} digits.", name
        )
    return int(value)


# The largest page a search answers, whatever `_count` asks.
MAX_PAGE = 200
DEFAULT_PAGE = 50


def page_size(params: dict[str, list[str]]) -> int:
    """The page size a search answers: `_count` up to MAX_PAGE (more would skip), or 0 for
    `_count=0`, which asks how many match and nothing else (see `search.no_total`)."""
    return min(number(params, "_count", DEFAULT_PAGE), MAX_PAGE)
