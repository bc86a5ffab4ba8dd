"""The /fhir router: the CapabilityStatement, the resources' routes (`patients.py`,
`clinical.py`, `history.py`), and every expected failure as an OperationOutcome
(`outcomes.py`)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute

from coffre.api import care, clinical, directory, history, patients, uploads
from coffre.api.auth import NoCredential, has_credential
from coffre.api.calls import Api, Turns
from coffre.api.outcomes import FhirResponse, Problem, from_error, outcome, unauthenticated
from coffre.bootstrap import Coffre
from coffre.errors import CoffreError

FHIR_VERSION = "4.0.1"
_EVERYTHING = "http://hl7.org/fhir/OperationDefinition/Patient-everything"
_OPERATIONS = "urn:coffre:operation:"
_SEARCH = ["read", "search-type"]
_SUPPORTED: dict[str, list[str]] = {
    "Patient": ["read", "vread", "history-instance", "search-type", "create", "update", "delete"],
    "Observation": [*_SEARCH, "create"],
    "Condition": [*_SEARCH, "create"],
    "DocumentReference": [*_SEARCH, "create"],
    "Binary": ["read", "create"],
    "AuditEvent": ["search-type"],
    "EpisodeOfCare": ["search-type"],
    "Consent": ["read", "search-type", "create", "update"],
    "Practitioner": ["read", "search-type"],
    "PractitionerRole": ["search-type"],
    "Organization": ["read", "search-type"],
    "CareTeam": ["read", "search-type", "update"],
}
_PARAMETERS: dict[str, list[tuple[str, str]]] = {
    "Patient": [
        ("identifier", "token"),
        ("family", "string"),
        ("birthdate", "date"),
        ("email", "token"),
        ("phone", "token"),
    ],
    "Observation": [("patient", "reference"), ("category", "token"), ("date", "date")],
    "Condition": [("patient", "reference"), ("category", "token"), ("date", "date")],
    "DocumentReference": [("patient", "reference"), ("category", "token"), ("date", "date")],
    "AuditEvent": [("patient", "reference"), ("entity", "reference")],
    "EpisodeOfCare": [("patient", "reference")],
    "Consent": [("patient", "reference")],
    "Practitioner": [("name", "string"), ("organization", "reference")],
    "PractitionerRole": [("practitioner", "reference"), ("organization", "reference")],
    "Organization": [("name", "string")],
    "CareTeam": [
        ("organization", "reference"),
        ("participant", "reference"),
        ("name", "string"),
    ],
}
# Only the current version of a Patient is kept: vread answers it, and an update may name
# the version it is based on (If-Match). A Consent's version is derived from its content.
_VERSIONING = {
    "Patient": {"versioning": "versioned-update", "readHistory": False},
    "Consent": {"versioning": "versioned-update", "readHistory": False},
}


class FhirRoute(APIRoute):
    """A route whose expected failures are answered as OperationOutcomes."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        # A Binary is read as itself, in its own media type: any Accept goes.
        native = self.path.startswith("/fhir/Binary/") and "GET" in self.methods

        async def handle(request: Request) -> Response:
            if not native and not answers_json(request):
                if not has_credential(request):
                    return unauthenticated("Send a bearer token (Authorization: Bearer …).")
                return outcome(
                    406,
                    "not-supported",
                    "This server answers in JSON only (application/fhir+json).",
                )
            try:
                return await handler(request)
            except NoCredential:
                return unauthenticated("Send a bearer token (Authorization: Bearer …).")
            except Problem as exc:
                # Who calls is checked before what they send is judged: an anonymous
                # request learns nothing from the validation of its body or query.
                if not has_credential(request):
                    return unauthenticated("Send a bearer token (Authorization: Bearer …).")
                return exc.response()
            except CoffreError as exc:
                return from_error(exc)

        return handle


# What `_format` may ask for and still get JSON (FHIR R4 3.1.0.1.8).
_JSON_FORMATS = frozenset({"json", "application/json", "application/fhir+json"})


def answers_json(request: Request) -> bool:
    """Whether the request may be answered in JSON: its `_format`, if any, is JSON, and its
    Accept header, if any, admits JSON (`*/*`, `application/*`, a JSON type, `+json`) with a
    weight above zero."""
    asked = request.query_params.get("_format")
    if asked is not None and asked.strip().lower() not in _JSON_FORMATS:
        return False
    accept = request.headers.get("accept")
    if not accept or not accept.strip():
        return True
    for part in accept.split(","):
        kind, *parameters = (piece.strip().lower() for piece in part.split(";"))
        json_like = kind in ("*/*", "application/*", "application/json") or kind.endswith("+json")
        if json_like and _weight(parameters) > 0:
            return True
    return False


def _weight(parameters: list[str]) -> float:
    """A media range's `q` (RFC 9110 12.4.2): 1 when absent or unreadable."""
    for parameter in parameters:
        if parameter.startswith("q="):
            try:
                return float(parameter[2:])
            except ValueError:
                return 1.0
    return 1.0


def capability_statement(coffre: Coffre) -> dict[str, Any]:
    """What this server supports, and nothing more."""
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": datetime.now(UTC).date().isoformat(),
        "kind": "instance",
        "software": {"name": "Coffre"},
        "implementation": {
            "description": "Coffre FHIR API",
            "url": coffre.settings.public_origin + "/fhir",
        },
        "fhirVersion": FHIR_VERSION,
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "cors": False,
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                    "code": "SMART-on-FHIR",
                                }
                            ]
                        }
                    ],
                    "description": "Bearer tokens from /auth/token (SMART Backend Services) "
                    "or personal access tokens; SMART v2 scopes narrow what the access "
                    "policy allows.",
                },
                "resource": [
                    {
                        "type": name,
                        "interaction": [{"code": code} for code in codes],
                        **_VERSIONING.get(name, {}),
                        **(
                            {"searchParam": [{"name": n, "type": t} for n, t in _PARAMETERS[name]]}
                            if name in _PARAMETERS
                            else {}
                        ),
                        **(
                            {"operation": [{"name": "everything", "definition": _EVERYTHING}]}
                            if name == "Patient"
                            else {}
                        ),
                    }
                    for name, codes in _SUPPORTED.items()
                ],
                "operation": [
                    {"name": "eligibility", "definition": _OPERATIONS + "eligibility"},
                    {"name": "usage", "definition": _OPERATIONS + "usage"},
                ],
            }
        ],
    }


def router(coffre: Coffre) -> APIRouter:
    """The /fhir routes of one installation."""
    api = Api(coffre, coffre.signin(), turns=Turns() if coffre.one_writer else None)
    routes = APIRouter(prefix="/fhir", route_class=FhirRoute, tags=["FHIR"])

    @routes.get("/metadata", response_class=FhirResponse)
    def metadata() -> FhirResponse:
        return FhirResponse(capability_statement(coffre))

    patients.add_routes(routes, api)
    clinical.add_routes(routes, api)
    uploads.add_routes(routes, api)
    history.add_routes(routes, api)
    care.add_routes(routes, api)
    directory.add_routes(routes, api)

    served = [route for route in routes.routes if isinstance(route, APIRoute)]

    @routes.api_route(
        "/{path:path}",
        methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        include_in_schema=False,
    )
    def unsupported(path: str, request: Request) -> FhirResponse:
        allowed = allowed_methods(served, request.url.path)
        if allowed:
            return outcome(
                405,
                "not-supported",
                f"This server does not support {request.method} here; it supports "
                f"{', '.join(allowed)}.",
                headers={"Allow": ", ".join(allowed)},
            )
        return outcome(404, "not-supported", "This server does not support that yet.")

    return routes


def allowed_methods(served: list[APIRoute], path: str) -> list[str]:
    """The methods of the routes whose path matches `path` (HEAD aside, as the routes
    declare none), in a stable order; [] when no route has this path."""
    methods = {m for route in served if route.path_regex.match(path) for m in route.methods}
    return sorted(methods - {"HEAD"})
