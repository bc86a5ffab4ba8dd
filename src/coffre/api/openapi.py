"""The OpenAPI description of the /fhir routes, completed from what FastAPI generates.

FastAPI sees each FHIR route as a function of a `Request`: it lists the path and nothing
it reads or answers. `complete` adds that by rule, from the shape of each path (read,
vread, history, search, create, update, delete, operation) and from the lists the
CapabilityStatement is built from (`routes._SUPPORTED`, `routes._PARAMETERS`): the search
parameters in FHIR's form, the headers, the bodies, the statuses each call answers with
their media types (errors as OperationOutcome resources), and the credentials it needs.
A route added later is described by the same rules.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from coffre.api.auth import SESSION_COOKIE
from coffre.api.body import MAX_DIGITS
from coffre.api.outcomes import FHIR_JSON
from coffre.api.routes import _PARAMETERS, _SUPPORTED
from coffre.api.uploads import UPLOAD_HEADERS
from coffre.records import ErasureReason

PREFIX = "/fhir/"
BEARER, SESSION = "bearer", "session"
CREDENTIALS: list[dict[str, list[str]]] = [{BEARER: []}, {SESSION: []}]

_SCHEMAS = "#/components/schemas/"
_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
_TIME = r"T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:[0-9]{2})?"
_DATE = rf"^({'|'.join(_PREFIXES)})?[0-9]{{4}}(-[0-9]{{2}}(-[0-9]{{2}}({_TIME})?)?)?$"
_VERSION_TAG = {"type": "string", "pattern": '^W/"[0-9]+"$'}
_STRING: tuple[dict[str, Any], str] = ({"type": "string"}, "")
_TYPES: dict[str, tuple[dict[str, Any], str]] = {
    "date": (
        {"type": "string", "pattern": _DATE},
        "A year, a month, a day or an instant after an optional FHIR prefix (eq by "
        "default); this server refuses sa, eb and ap (400).",
    ),
    "token": ({"type": "string"}, "A code, or system|code."),
    "reference": ({"type": "string"}, "Type/id, or the id alone."),
}
# Paging: `_offset` unless the search pages by another cursor, or answers all at once.
_PAGING: dict[str, tuple[str, ...]] = {
    "AuditEvent": ("_count", "_before"),
    "EpisodeOfCare": (),
    "Consent": (),
}
_PAGING_DESCRIPTIONS = {
    "_count": "How many resources a page holds at most (the server caps it; 0 counts as 1).",
    "_offset": "How many matches to skip (from the `next` link).",
    "_before": "Where the next page starts (from the `next` link).",
}
_IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "schema": _VERSION_TAG,
    "description": "The version the change is based on (412 if it is not the stored one).",
}
# Parameters of a deletion: erasing a patient says why, as a code.
_DELETE_PARAMETERS = {
    "Patient": [
        {
            "name": "reason",
            "in": "query",
            "schema": {"enum": [r.value for r in ErasureReason], "default": "subject-request"},
        }
    ]
}
# Operations on the whole server: their parameters (name, FHIR type, required).
_OPERATIONS: dict[str, list[tuple[str, str, bool]]] = {
    "$eligibility": [("member", "string", True), ("date", "day", False)],
    "$usage": [("since", "day", True), ("until", "day", True)],
}
# Statuses only some types answer: a duplicate national identifier (409), a document whose
# content is not of its declared type (422), an upload that paused too long (408) or that
# comes while too many others arrive (503), a consent already so (200, nothing created).
_ALSO: dict[tuple[str, str], tuple[int, ...]] = {
    ("create", "Patient"): (409,),
    ("create", "DocumentReference"): (422,),
    ("create", "Binary"): (408, 422, 503),
    ("create", "Consent"): (200,),
}
# The path after the type, and the method: the interaction.
_SHAPES = {
    ((), "get"): "search-type",
    ((), "post"): "create",
    (("_history",), "get"): "history-type",
    (("{id}",), "get"): "read",
    (("{id}",), "put"): "update",
    (("{id}",), "patch"): "patch",
    (("{id}",), "delete"): "delete",
    (("{id}", "_history"), "get"): "history-instance",
    (("{id}", "_history", "{id}"), "get"): "vread",
}
# Types holding no patient data: no patient behind them to be missing, erased or metered.
_DIRECTORY = frozenset({"Practitioner", "PractitionerRole", "Organization", "CareTeam"})
# Types whose update may name the version it is based on (If-Match; 412 when stale).
_VERSIONED = frozenset({"Patient", "Consent"})

_ERRORS = {
    400: "The request is malformed or names something this call cannot take.",
    401: "No credential, or one that is unknown, expired, revoked or ended.",
    403: "The access policy or the token's scopes refuse; the rule is named.",
    404: "No such resource (told only to a caller who may know).",
    408: "The upload paused for too long.",
    409: "A duplicate: the organisation already holds this patient.",
    410: "The patient was erased.",
    412: "The If-Match version is not the stored one: read the resource again.",
    413: "The body is larger than the server takes.",
    415: "The body is not application/fhir+json (or application/json); for Binary, the "
    "document has no media type of its own.",
    422: "The document's content is not of its declared type.",
    503: "Too many documents are arriving at once: send it again after Retry-After.",
    429: "A machine client is past its volume ceiling.",
}
_HEADERS = {
    401: {"WWW-Authenticate": {"required": True, "schema": {"type": "string"}}},
    429: {"Retry-After": {"required": True, "schema": {"type": "integer", "minimum": 0}}},
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _SCHEMAS + name}


def _resource(name: str | None) -> dict[str, Any]:
    """The schema of a resource of that type (any type when None)."""
    kind: dict[str, Any] = {"const": name} if name else {"type": "string"}
    return {"type": "object", "required": ["resourceType"], "properties": {"resourceType": kind}}


def _bundle(kind: str, name: str | None) -> dict[str, Any]:
    """A Bundle of that kind whose entries are resources of that type (any when None)."""
    schema: dict[str, Any] = {
        "allOf": [_ref("Bundle")],
        "properties": {
            "type": {"const": kind},
            "entry": {
                "type": "array",
                "items": {"properties": {"resource": _ref(name or "Resource")}},
            },
        },
    }
    if kind == "searchset":
        schema["description"] = (
            "Never a total: who may see which match is decided per patient. `_count=0` (a "
            "total alone) is answered with one entry, an OperationOutcome that says so."
        )
        schema["not"] = {"required": ["total"]}
        schema["properties"]["entry"]["items"] = {
            "anyOf": [_entry("match", name or "Resource"), _entry("outcome", "OperationOutcome")]
        }
    return schema


def _entry(mode: str, name: str) -> dict[str, Any]:
    """A searchset entry of that search mode holding a resource of that type."""
    search = {"type": "object", "properties": {"mode": {"const": mode}}, "required": ["mode"]}
    return {
        "type": "object",
        "required": ["resource", "search"],
        "properties": {"resource": _ref(name), "search": search},
    }


COMPONENTS: dict[str, Any] = {
    "Resource": _resource(None),
    "Bundle": {
        "type": "object",
        "required": ["resourceType", "type"],
        "properties": {
            "resourceType": {"const": "Bundle"},
            "type": {"type": "string"},
            "link": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["relation", "url"],
                    "properties": {"relation": {"type": "string"}, "url": {"type": "string"}},
                },
            },
            "entry": {"type": "array", "items": {"type": "object"}},
        },
    },
    "OperationOutcome": {
        "type": "object",
        "required": ["resourceType", "issue"],
        "properties": {
            "resourceType": {"const": "OperationOutcome"},
            "issue": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["severity", "code"],
                    "properties": {
                        "severity": {"enum": ["fatal", "error", "warning", "information"]},
                        "code": {"type": "string"},
                        "diagnostics": {"type": "string"},
                        "expression": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
        },
    },
}
SECURITY_SCHEMES = {
    BEARER: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "opaque",
        "description": "A machine client's token from /auth/token, or a personal access "
        "token (/auth/login, or issued by an operator).",
    },
    SESSION: {
        "type": "apiKey",
        "in": "cookie",
        "name": SESSION_COOKIE,
        "description": "The browser session of the pages.",
    },
}


def _fhir(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {FHIR_JSON: {"schema": schema}}}


def _query(
    name: str, schema: dict[str, Any], description: str = "", *, required: bool = False
) -> dict[str, Any]:
    parameter = {"name": name, "in": "query", "required": required, "schema": schema}
    return {**parameter, "description": description} if description else parameter


def _search_parameters(name: str) -> list[dict[str, Any]]:
    parameters = [_query(n, *_TYPES.get(t, _STRING)) for n, t in _PARAMETERS.get(name, [])]
    whole = {"type": "integer", "minimum": 0, "maximum": 10**MAX_DIGITS - 1}
    for paging in _PAGING.get(name, ("_count", "_offset")):
        parameters.append(_query(paging, whole, _PAGING_DESCRIPTIONS[paging]))
    prefer = {"enum": ["handling=strict", "handling=lenient"]}
    return [
        *parameters,
        {
            "name": "Prefer",
            "in": "header",
            "required": False,
            "schema": prefer,
            "description": "Under strict, an unknown search parameter is refused (400); "
            "under lenient, the default, it is ignored.",
        },
    ]


def _operation_parameters(name: str) -> list[dict[str, Any]]:
    day = {"type": "string", "format": "date"}
    return [
        _query(n, day if t == "day" else _STRING[0], required=required)
        for n, t, required in _OPERATIONS.get(name, [])
    ]


def _classify(method: str, path: str) -> tuple[str, str | None]:
    """The FHIR interaction of a /fhir operation (`read`, `search-type`, `create`…,
    `operation`, or `unknown`) and the resource type it is about (None for the server)."""
    parts = path.removeprefix(PREFIX).split("/")
    name = parts[0] if parts[0][:1].isupper() else None
    if parts == ["metadata"]:
        return "capabilities", None
    if parts[-1].startswith("$"):
        return "operation", name
    shape = tuple("{id}" if p.startswith("{") else p for p in parts[1:])
    return _SHAPES.get((shape, method), "unknown"), name


def _success(interaction: str, name: str | None, path: str) -> dict[int, dict[str, Any]]:
    """The success answers of an interaction."""
    if interaction == "capabilities":
        return {200: _fhir(_ref("CapabilityStatement"), "What this server supports.")}
    if interaction == "delete":
        return {204: {"description": "Done; nothing is answered."}}
    if name == "Binary" and interaction == "create":
        location = {"required": True, "schema": {"type": "string"}}
        described = _fhir(_ref("DocumentReference"), "Created: the document's description.")
        return {201: {**described, "headers": {"Location": location}}}
    if name == "Binary" and interaction == "read":
        media = {"*/*": {"schema": {"type": "string", "format": "binary"}}}
        return {200: {"description": "The document, as its own media type.", "content": media}}
    if interaction == "search-type":
        return {200: _fhir(_bundle("searchset", name), "The matches the caller may see.")}
    if interaction == "history-instance":
        return {200: _fhir(_bundle("history", name), "The versions kept.")}
    if interaction == "operation":
        if path.endswith("/$everything"):
            return {200: _fhir(_bundle("searchset", None), "What the caller may see of it.")}
        return {200: _fhir(_ref("Parameters"), "The operation's answer.")}
    answer = _ref(name or "Resource")
    tag = {"required": False, "schema": _VERSION_TAG}
    if interaction == "create":
        location = {"required": False, "schema": {"type": "string"}}
        created = {**_fhir(answer, "Created."), "headers": {"Location": location, "ETag": tag}}
        also = _ALSO.get((interaction, name or ""), ())
        return {201: created, **({200: _fhir(answer, "Already so.")} if 200 in also else {})}
    return {200: {**_fhir(answer, "The resource."), "headers": {"ETag": tag}}}


def _errors(interaction: str, name: str | None, path: str, operation: dict[str, Any]) -> list[int]:
    """The error statuses an operation answers, by what it reads and what it touches."""
    codes = {401, 403}
    patient_data = name not in _DIRECTORY
    if patient_data:
        codes.add(429)
    reads = {p["name"] for p in operation["parameters"] if p["in"] != "path"}
    body = "requestBody" in operation
    if reads or body:
        codes.add(400)
    if body:
        codes |= {413, 415}
    # A patient named in the path, the query or the body may be missing, or erased.
    instance = "{" in path
    named = instance or "patient" in reads or (interaction == "create" and name != "Patient")
    if named:
        codes |= {404, 410} if patient_data else {404}
    if interaction == "update" and name in _VERSIONED:
        codes.add(412)
    codes |= {c for c in _ALSO.get((interaction, name or ""), ()) if c >= 400}
    return sorted(codes)


def _describe(path: str, method: str, operation: dict[str, Any]) -> None:
    """Complete one /fhir operation in place."""
    interaction, name = _classify(method, path)
    operation["x-fhir-interaction"] = interaction
    if name is not None:
        operation["x-fhir-type"] = name
    parameters = [p for p in operation.get("parameters", []) if p["in"] == "path"]
    if interaction == "search-type" and name is not None:
        parameters += _search_parameters(name)
    elif interaction == "operation" and name is None:
        parameters += _operation_parameters(path.removeprefix(PREFIX))
    elif interaction == "update" and name in _VERSIONED:
        parameters.append(_IF_MATCH)
    elif interaction == "delete" and name is not None:
        parameters += _DELETE_PARAMETERS.get(name, [])
    operation["parameters"] = parameters
    if name == "Binary" and interaction == "create":
        operation["parameters"] = [*parameters, *UPLOAD_HEADERS]
        media = {"*/*": {"schema": {"type": "string", "format": "binary"}}}
        operation["requestBody"] = {"required": True, "content": media}
    elif interaction in ("create", "update") and name is not None:
        body = {"schema": _ref(name)}
        media = {FHIR_JSON: body, "application/json": body}
        operation["requestBody"] = {"required": True, "content": media}
    responses: dict[int, Any] = _success(interaction, name, path)
    if interaction != "capabilities":
        operation["security"] = CREDENTIALS
        for code in _errors(interaction, name, path, operation):
            error = _fhir(_ref("OperationOutcome"), _ERRORS[code])
            responses[code] = {**error, "headers": _HEADERS[code]} if code in _HEADERS else error
    operation["responses"] = {str(code): answer for code, answer in sorted(responses.items())}


def complete(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of the document FastAPI generated, with every /fhir operation described."""
    document = copy.deepcopy(document)
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.update(COMPONENTS)
    names = {"CapabilityStatement", "Parameters", *_SUPPORTED}
    for path, operations in document.get("paths", {}).items():
        if not path.startswith(PREFIX):
            continue
        for method, operation in operations.items():
            _describe(path, method, operation)
            names.add(operation.get("x-fhir-type") or "Resource")
    for name in sorted(names - set(COMPONENTS)):
        schemas[name] = _resource(name)
    components["securitySchemes"] = {**components.get("securitySchemes", {}), **SECURITY_SCHEMES}
    # Operations share this module's constants: the answer must not.
    return copy.deepcopy(document)


def describe(app: FastAPI) -> None:
    """Make the app's /openapi.json the completed description (built on first request)."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
