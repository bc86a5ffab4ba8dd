"""Patient: read, vread and history (of the version kept), search, create (registration),
update, delete (erasure) and `$everything`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from coffre import records
from coffre.api.body import MAX_DIGITS, number, one, page_size, search_parameters
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


def if_match(request: Request) -> int | None:
    """The version an update is based on, from `If-Match: W/"N"`."""
    tag = request.headers.get("if-match")
    if tag is None:
        return None
    digits = tag.strip().removeprefix("W/").strip('"')
    if not (digits.isascii() and digits.isdigit()) or len(digits) > MAX_DIGITS:
        raise Problem(400, "invalid", 'If-Match must be a version such as W/"3".', "If-Match")
    return int(digits)


def history_bundle(base: str, resource: dict[str, Any]) -> dict[str, Any]:
    """A history Bundle of the versions kept: the current one only (an update replaces the
    sealed fields; earlier versions are not kept, so they cannot leak either)."""
    version = resource["meta"]["versionId"]
    url = f"Patient/{resource['id']}"
    return {
        "resourceType": "Bundle",
        "type": "history",
        "link": [{"relation": "self", "url": f"{base}/{url}/_history"}],
        "entry": [
            {
                "fullUrl": f"{base}/{url}",
                "resource": resource,
                "request": {"method": "POST" if version == "1" else "PUT", "url": url},
                "response": {
                    "status": "201 Created" if version == "1" else "200 OK",
                    "etag": f'W/"{version}"',
                    "lastModified": resource["meta"]["lastUpdated"],
                },
            }
        ],
    }


def add_routes(routes: APIRouter, api: Api) -> None:
    coffre = api.coffre

    async def read(patient_id: str, request: Request, version: int | None = None) -> dict[str, Any]:
        return await api.run(
            request,
            lambda actor, purpose: records.read_patient(
                coffre.uow(), coffre.vault, actor, patient_id, purpose, version=version
            ),
        )

    @routes.get("/Patient/{patient_id}", response_class=FhirResponse)
    async def read_patient(patient_id: str, request: Request) -> FhirResponse:
        resource = await read(patient_id, request)
        return FhirResponse(resource, headers={"ETag": f'W/"{resource["meta"]["versionId"]}"'})

    @routes.get("/Patient/{patient_id}/_history/{version_id}", response_class=FhirResponse)
    async def vread_patient(patient_id: str, version_id: str, request: Request) -> FhirResponse:
        # Decided before the version is compared: a caller who may not read the patient
        # learns nothing about its versions; another version is journaled as a failed read.
        plain = version_id.isascii() and version_id.isdigit() and len(version_id) <= MAX_DIGITS
        version = int(version_id) if plain else -1  # no version: none is kept
        resource = await read(patient_id, request, version)
        return FhirResponse(resource, headers={"ETag": f'W/"{version_id}"'})

    @routes.get("/Patient/{patient_id}/_history", response_class=FhirResponse)
    async def patient_history(patient_id: str, request: Request) -> FhirResponse:
        resource = await read(patient_id, request)
        return FhirResponse(history_bundle(api.base, resource))

    @routes.post("/Patient", response_class=FhirResponse, status_code=201)
    async def register_patient(request: Request) -> FhirResponse:
        resource = await api.resource(request, ["Patient"])
        patient_id = await api.run(
            request,
            lambda actor, purpose: records.register_patient(
                coffre.uow(), coffre.vault, actor, resource, purpose
            ),
        )
        stored = {
            **resource,
            "id": patient_id,
            "meta": {**resource.get("meta", {}), "versionId": "1"},
        }
        return FhirResponse(
            stored,
            status_code=201,
            headers={
                "Location": f"{api.base}/Patient/{patient_id}/_history/1",
                "ETag": 'W/"1"',
            },
        )

    @routes.get("/Patient", response_class=FhirResponse)
    async def search_patients(request: Request) -> FhirResponse:
        params = search_parameters(request, SEARCH_PARAMETERS)
        criteria = criteria_of(params)
        offset, count = number(params, "_offset", 0), page_size(params)
        if count == 0:
            return await api.no_total(request, "Patient", params)
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
        expected = if_match(request)
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
