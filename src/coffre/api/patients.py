"""Patient: read, search, update, delete (erasure) and `$everything`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from coffre import records
from coffre.api.body import number, one, search_parameters
from coffre.api.calls import Api, document_resource, entry_resource
from coffre.api.outcomes import FhirResponse, Problem
from coffre.api.search import next_page, searchset
from coffre.records import INSZ_SYSTEM, NIR_SYSTEM, ErasureReason, FindCriteria

SEARCH_PARAMETERS = ("identifier", "family", "birthdate", "email", "phone")


def criteria_of(params: dict[str, list[str]]) -> FindCriteria:
    """The blind-index criteria of a Patient search (one way of finding at a time)."""
    identifier = one(params, "identifier")
    nir = insz = None
    if identifier is not None:
        system, bar, value = identifier.partition("|")
        if not bar or system not in (NIR_SYSTEM, INSZ_SYSTEM) or not value:
            raise Problem(
                400,
                "invalid",
                f"identifier must be {NIR_SYSTEM}|NUMBER or {INSZ_SYSTEM}|NUMBER.",
                "identifier",
            )
        nir, insz = (value, None) if system == NIR_SYSTEM else (None, value)
    return FindCriteria(
        nir=nir,
        insz=insz,
        email=one(params, "email"),
        phone=one(params, "phone"),
        family=one(params, "family"),
        birth_date=one(params, "birthdate"),
    )


def _version(request: Request) -> int | None:
    """The version an update is based on, from `If-Match: W/"N"`."""
    tag = request.headers.get("if-match")
    if tag is None:
        return None
    digits = tag.strip().removeprefix("W/").strip('"')
    if not digits.isdigit():
        raise Problem(400, "invalid", 'If-Match must be a version such as W/"3".', "If-Match")
    return int(digits)


def add_routes(routes: APIRouter, api: Api) -> None:
    coffre = api.coffre

    @routes.get("/Patient/{patient_id}", response_class=FhirResponse)
    async def read_patient(patient_id: str, request: Request) -> FhirResponse:
        return FhirResponse(
            await api.run(
                request,
                lambda actor, purpose: records.read_patient(
                    coffre.uow(), coffre.vault, actor, patient_id, purpose
                ),
            )
        )

    @routes.get("/Patient", response_class=FhirResponse)
    async def search_patients(request: Request) -> FhirResponse:
        params = search_parameters(request, SEARCH_PARAMETERS)
        criteria = criteria_of(params)
        offset, count = number(params, "_offset", 0), number(params, "_count", 50)
        page = await api.run(
            request,
            lambda actor, purpose: records.search_patients(
                coffre.uow(), coffre.vault, actor, criteria, purpose, offset=offset, count=count
            ),
        )
        return FhirResponse(
            searchset(
                api.base, "Patient", params, page.items, next_page(params, offset, count, page.more)
            )
        )

    @routes.put("/Patient/{patient_id}", response_class=FhirResponse)
    async def update_patient(patient_id: str, request: Request) -> FhirResponse:
        resource = await api.resource(request, ["Patient"], patient_id)
        expected = _version(request)
        version = await api.run(
            request,
            lambda actor, purpose: records.update_patient(
                coffre.uow(),
                coffre.vault,
                actor,
                patient_id,
                resource,
                purpose,
                expected_version=expected,
            ),
        )
        stored = {**resource, "meta": {**resource.get("meta", {}), "versionId": str(version)}}
        return FhirResponse(stored, headers={"ETag": f'W/"{version}"'})

    @routes.delete("/Patient/{patient_id}", status_code=204)
    async def erase_patient(patient_id: str, request: Request) -> Response:
        reason_text = request.query_params.get("reason", ErasureReason.SUBJECT_REQUEST.value)
        try:
            reason = ErasureReason(reason_text)
        except ValueError:
            known = ", ".join(r.value for r in ErasureReason)
            raise Problem(400, "invalid", f"reason must be one of: {known}.", "reason") from None
        await api.run(
            request,
            lambda actor, _: records.erase_patient(
                coffre.uow(), coffre.vault, actor, patient_id, reason
            ),
        )
        return Response(status_code=204)

    @routes.get("/Patient/{patient_id}/$everything", response_class=FhirResponse)
    async def everything(patient_id: str, request: Request) -> FhirResponse:
        record = await api.run(
            request,
            lambda actor, purpose: records.read_record(
                coffre.uow(), coffre.vault, actor, patient_id, purpose
            ),
        )
        found: list[dict[str, Any]] = [record.patient] if record.patient else []
        found += [entry_resource(e) for e in record.entries]
        found += [document_resource(d) for d in record.documents]
        return FhirResponse(searchset(api.base, f"Patient/{patient_id}/$everything", {}, found))
