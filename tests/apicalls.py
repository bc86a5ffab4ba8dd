"""Calling the FHIR API in tests: tokens, and checks of the shapes it answers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome

from coffre import signin
from coffre.bootstrap import Coffre
from coffre.identity import local_operator

FHIR_JSON = "application/fhir+json"


def personal_token(coffre: Coffre, organisation_id: str, username: str, scopes: str) -> str:
    """A one-hour personal access token of the account, issued by the operator."""
    secret, _ = signin.issue_personal_token(
        coffre.uow(), local_operator(organisation_id), username, scopes, timedelta(hours=1)
    )
    return secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def problem(response: httpx.Response, status: int, code: str) -> str:
    """The one issue of an OperationOutcome answered with `status`; its diagnostics."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    body = OperationOutcome.model_validate(response.json())
    [issue] = body.issue
    assert (issue.severity, issue.code) == ("error", code)
    return str(issue.diagnostics)


def searchset(response: httpx.Response) -> Bundle:
    """The searchset Bundle of a 200 answer, checked: no total, ever."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    bundle = Bundle.model_validate(response.json())
    assert bundle.type == "searchset"
    assert bundle.total is None
    return bundle


def ids(bundle: Bundle) -> list[str]:
    return [e.resource.id for e in bundle.entry or []]


def new_consent(patient_id: str, status: str) -> dict[str, Any]:
    """A patient's sharing Consent as a client sends it to `POST /fhir/Consent`."""
    return {
        "resourceType": "Consent",
        "status": status,
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": "patient-privacy",
                }
            ]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{patient_id}"},
    }
