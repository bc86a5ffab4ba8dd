"""The FHIR endpoints. Each runs in the thread pool (the services block on the database
and on password-free but CPU-bound decryption), and every failure becomes an
OperationOutcome (`outcomes.py`)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from coffre import records
from coffre.access import Purpose
from coffre.api.auth import NoCredential, caller
from coffre.api.outcomes import FhirResponse, from_error, outcome, unauthenticated
from coffre.bootstrap import Coffre
from coffre.errors import CoffreError
from coffre.identity import Actor, OrganisationKind

FHIR_VERSION = "4.0.1"
_SUPPORTED = {
    "Patient": ["read"],
}


class FhirRoute(APIRoute):
    """A route whose expected failures are answered as OperationOutcomes."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except NoCredential:
                return unauthenticated("Send a bearer token (Authorization: Bearer …).")
            except CoffreError as exc:
                return from_error(exc)

        return handle


def purpose_of(actor: Actor) -> Purpose:
    """Why this actor reads patient data through the API: a subcontractor under its
    contracts, everyone else for care (the policy refuses those it does not fit)."""
    if actor.organisation_kind is OrganisationKind.SUBCONTRACTOR:
        return Purpose.CONTRACT
    return Purpose.CARE


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
                    {"type": name, "interaction": [{"code": code} for code in codes]}
                    for name, codes in _SUPPORTED.items()
                ],
            }
        ],
    }


def router(coffre: Coffre) -> APIRouter:
    """The /fhir routes of one installation."""
    ctx = coffre.signin()
    routes = APIRouter(prefix="/fhir", route_class=FhirRoute, tags=["FHIR"])

    @routes.get("/metadata", response_class=FhirResponse)
    def metadata() -> FhirResponse:
        return FhirResponse(capability_statement(coffre))

    @routes.get("/Patient/{patient_id}", response_class=FhirResponse)
    async def read_patient(patient_id: str, request: Request) -> FhirResponse:
        def read() -> dict[str, Any]:
            actor = caller(coffre, ctx, request)
            return records.read_patient(
                coffre.uow(), coffre.vault, actor, patient_id, purpose_of(actor)
            )

        return FhirResponse(await run_in_threadpool(read))

    @routes.api_route(
        "/{path:path}",
        methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        include_in_schema=False,
    )
    def unsupported(path: str) -> FhirResponse:
        return outcome(404, "not-supported", "This server does not support that yet.")

    return routes
