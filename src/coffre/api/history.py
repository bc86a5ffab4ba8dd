"""AuditEvent: a patient's access history, read-only, from the journal's own service (which
decides and journals the reading itself); and the insurers' two questions as operations
answering small Parameters resources, never a Patient."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request

from coffre import journal, records
from coffre.api.body import number, one, page_size, search_parameters
from coffre.api.calls import Api
from coffre.api.outcomes import FhirResponse, Problem
from coffre.api.search import patient_id_of, searchset


def _day(params: dict[str, list[str]], name: str, default: date | None = None) -> date:
    value = one(params, name)
    if value is None:
        if default is None:
            raise Problem(400, "required", f"Give {name} (YYYY-MM-DD).", name)
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Problem(400, "invalid", f"{name} must be a date written YYYY-MM-DD.", name) from None


def _parameters(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": list(parts)}


def add_routes(routes: APIRouter, api: Api) -> None:
    coffre = api.coffre
    observer = f"coffre:{coffre.settings.public_origin}"

    @routes.get("/AuditEvent", response_class=FhirResponse)
    async def history(request: Request) -> FhirResponse:
        params = search_parameters(request, ("patient", "entity", "_before"))
        patient_id = patient_id_of((params.get("patient") or [None])[0])
        entity = one(params, "entity")
        document_id = entity.rpartition("/")[2] if entity else None
        before = number(params, "_before", 0) or None
        count = page_size(params)
        if count == 0:
            return await api.no_total(request, "AuditEvent", params)
        page = await api.run(
            request,
            lambda actor, purpose: journal.patient_history(
                coffre.uow(),
                actor,
                patient_id,
                purpose,
                document_id=document_id,
                before=before,
                limit=count,
            ),
        )
        events = [journal.to_audit_event(r, observer=observer) for r in page.items]
        rest = (
            {**params, "_before": [str(page.next_before)]} if page.next_before is not None else None
        )
        bundle = searchset(api.base, "AuditEvent", params, events, rest)
        return FhirResponse(bundle)

    @routes.get("/$eligibility", response_class=FhirResponse)
    async def eligibility(request: Request) -> FhirResponse:
        params = search_parameters(request, ("member", "date"))
        member = one(params, "member")
        if not member:
            raise Problem(400, "required", "Give the member number (member).", "member")
        on = _day(params, "date", date.today())
        answer = await api.run(
            request,
            lambda actor, _: records.check_eligibility(
                coffre.uow(), coffre.vault, actor, member, on
            ),
        )
        return FhirResponse(
            _parameters(
                {"name": "member", "valueString": answer.member_id},
                {"name": "date", "valueDate": answer.on.isoformat()},
                {"name": "covered", "valueBoolean": answer.covered},
            )
        )

    @routes.get("/$usage", response_class=FhirResponse)
    async def usage(request: Request) -> FhirResponse:
        params = search_parameters(request, ("since", "until"))
        since, until = _day(params, "since"), _day(params, "until")
        figures = await api.run(
            request,
            lambda actor, _: records.usage_figures(coffre.uow(), coffre.vault, actor, since, until),
        )
        months = [
            {
                "name": "month",
                "part": [
                    {"name": "month", "valueString": month},
                    {"name": "teleconsultations", "valueInteger": n},
                ],
            }
            for month, n in sorted(figures.teleconsultations.items())
        ]
        return FhirResponse(
            _parameters(
                {"name": "since", "valueDate": figures.since.isoformat()},
                {"name": "until", "valueDate": figures.until.isoformat()},
                {"name": "members", "valueInteger": figures.members},
                *months,
            )
        )
