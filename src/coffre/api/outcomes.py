"""Errors as FHIR OperationOutcome resources with the status that fits.

Every failure of an API call is one OperationOutcome (`application/fhir+json`) with one
issue: its severity, its code from the FHIR issue-type value set, and one sentence. A
denial names the rule that decided (never data); a refused or missing credential gets a
`WWW-Authenticate` challenge.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse

from coffre import records, signin
from coffre.access import AccessDenied
from coffre.errors import CoffreError
from coffre.identity import CeilingReached, TokenRefused

FHIR_JSON = "application/fhir+json"


class FhirResponse(JSONResponse):
    """A FHIR resource as compact UTF-8 JSON, written by orjson (the standard library's
    encoder, with the same output, for the rare content orjson refuses: keys that are not
    text, integers beyond 64 bits)."""

    media_type = FHIR_JSON

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except orjson.JSONEncodeError:
            return super().render(content)


class Problem(Exception):
    """A request the API refuses before any service is called (an unreadable body, an
    unknown search parameter under `Prefer: handling=strict`…)."""

    def __init__(
        self,
        status: int,
        code: str,
        diagnostics: str,
        expression: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(diagnostics)
        self.status, self.code, self.diagnostics, self.expression = (
            status,
            code,
            diagnostics,
            expression,
        )
        self.headers = headers

    def response(self) -> FhirResponse:
        return outcome(
            self.status,
            self.code,
            self.diagnostics,
            expression=self.expression,
            headers=self.headers,
        )


def outcome(
    status: int,
    code: str,
    diagnostics: str,
    *,
    expression: str | None = None,
    headers: dict[str, str] | None = None,
) -> FhirResponse:
    """An OperationOutcome with one error issue."""
    issue: dict[str, Any] = {"severity": "error", "code": code, "diagnostics": diagnostics}
    if expression is not None:
        issue["expression"] = [expression]
    body = {"resourceType": "OperationOutcome", "issue": [issue]}
    return FhirResponse(body, status_code=status, headers=headers)


def unauthenticated(diagnostics: str, error: str | None = None) -> FhirResponse:
    """401 with a Bearer challenge (RFC 6750 §3)."""
    challenge = 'Bearer realm="coffre"'
    if error is not None:
        challenge += f', error="{error}"'
    return outcome(401, "login", diagnostics, headers={"WWW-Authenticate": challenge})


def from_error(exc: CoffreError) -> FhirResponse:
    """The OperationOutcome of an expected failure."""
    if isinstance(exc, AccessDenied):
        return outcome(403, "forbidden", exc.message)
    if isinstance(exc, CeilingReached):
        return outcome(429, "throttled", exc.message, headers={"Retry-After": "3600"})
    if isinstance(exc, (TokenRefused, signin.SessionEnded)):
        return unauthenticated(exc.message, "invalid_token")
    if isinstance(exc, signin.SecondFactorRequired):
        return unauthenticated(exc.message)
    if isinstance(
        exc,
        (
            records.PatientNotFound,
            records.DocumentNotFound,
            records.EntryNotFound,
            records.VersionNotKept,
        ),
    ):
        return outcome(404, "not-found", exc.message)
    if isinstance(exc, records.VersionConflict):
        # FHIR's version-aware update: an If-Match that no longer holds is 412.
        return outcome(412, "conflict", exc.message)
    if isinstance(exc, records.DuplicatePatient):
        return outcome(409, "duplicate", exc.message)
    if isinstance(exc, records.UploadInterrupted):
        return outcome(409, "conflict", exc.message)
    if isinstance(exc, records.DocumentTooLarge):
        return outcome(413, "too-costly", exc.message)
    if isinstance(exc, records.ContentTypeMismatch):
        return outcome(422, "business-rule", exc.message)
    if isinstance(exc, records.PatientErased):
        return outcome(410, "deleted", exc.message)
    if isinstance(exc, records.InvalidResource):
        return outcome(400, "invalid", exc.message, expression=exc.path)
    if isinstance(exc, (records.InvalidQuery, records.InvalidChoice)):
        return outcome(400, "invalid", exc.message)
    return outcome(400, "processing", exc.message)
