"""Observation and Condition (clinical entries), DocumentReference and Binary (documents):
read, search by patient, category and date, create; a document's content is streamed."""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from coffre import records
from coffre.access import Category
from coffre.api.body import number, page_size, search_parameters
from coffre.api.calls import Api, document_resource, entry_resource
from coffre.api.outcomes import FhirResponse, Problem
from coffre.api.search import (
    CATEGORY_SYSTEM,
    codings,
    date_filter,
    date_matches,
    next_page,
    patient_id_of,
    searchset,
    token_matches,
)

# Where each entry type keeps the date its `date` search parameter is about, and the
# category an entry is filed under when it names none of Coffre's.
DATES = {
    "Observation": ("effectiveDateTime", "effectiveInstant", "issued"),
    "Condition": ("onsetDateTime", "recordedDate"),
}
DEFAULT_CATEGORY = {"Observation": Category.RESULTS, "Condition": Category.CLINICAL_NOTES}
SEARCH_PARAMETERS = ("patient", "subject", "category", "date")


def _entry_date(resource: dict[str, Any]) -> str | None:
    for element in DATES[resource["resourceType"]]:
        if resource.get(element):
            return str(resource[element])
    period = resource.get("effectivePeriod") or {}
    return period.get("start")


def _coffre_category(resource: dict[str, Any], default: Category) -> Category:
    """The category named by a `urn:coffre:category` tag (or category coding), else the
    default of the resource type."""
    tags = (resource.get("meta") or {}).get("tag") or []
    named = [(t.get("system"), t.get("code")) for t in tags if isinstance(t, dict)]
    named += codings(resource, "category")
    for system, code in named:
        if system == CATEGORY_SYSTEM:
            try:
                return Category(code)
            except ValueError:
                raise Problem(
                    400,
                    "code-invalid",
                    f"{code} is not one of Coffre's categories.",
                    f"{resource['resourceType']}.meta.tag",
                ) from None
    return default


def _subject(resource: dict[str, Any]) -> str:
    name = resource["resourceType"]
    reference = (resource.get("subject") or {}).get("reference")
    if not isinstance(reference, str) or not reference.startswith("Patient/"):
        raise Problem(
            400, "invalid", f"{name}.subject must reference a Patient.", f"{name}.subject"
        )
    return patient_id_of(reference, f"{name}.subject")


def _patient_param(params: dict[str, list[str]]) -> str:
    values = params.get("patient") or params.get("subject") or []
    if len(values) > 1:
        raise Problem(400, "invalid", "Search one patient's record at a time.", "patient")
    return patient_id_of(values[0] if values else None)


@dataclass(frozen=True)
class RecordSearch:
    """A search of one patient's entries or documents: the patient, the categories and
    dates wanted, and the page."""

    params: dict[str, list[str]]
    patient_id: str
    categories: list[str] | None
    dates: list[tuple[str, datetime, datetime]]
    offset: int
    count: int

    @classmethod
    def of(cls, request: Request) -> RecordSearch:
        params = search_parameters(request, SEARCH_PARAMETERS)
        return cls(
            params,
            _patient_param(params),
            params.get("category"),
            date_filter(params.get("date")),
            number(params, "_offset", 0),
            page_size(params),
        )

    def matches(self, categories: list[tuple[str, str]], when: str | None) -> bool:
        return token_matches(categories, self.categories) and date_matches(when, self.dates)

    def answer(self, api: Api, path: str, found: list[dict[str, Any]], more: bool) -> FhirResponse:
        rest = next_page(self.params, self.offset, self.count, more)
        return FhirResponse(searchset(api.base, path, self.params, found, rest))


def _created(resource: dict[str, Any], api: Api) -> FhirResponse:
    location = f"{api.base}/{resource['resourceType']}/{resource['id']}"
    return FhirResponse(resource, status_code=201, headers={"Location": location})


def _entry_routes(routes: APIRouter, api: Api, kind: str) -> None:
    coffre = api.coffre

    async def read(entry_id: str, request: Request) -> FhirResponse:
        view = await api.run(
            request,
            lambda actor, purpose: records.read_entry(
                coffre.uow(), coffre.vault, actor, kind, entry_id, purpose
            ),
        )
        return FhirResponse(entry_resource(view))

    async def search(request: Request) -> FhirResponse:
        wanted = RecordSearch.of(request)
        if wanted.count == 0:
            return await api.no_total(request, kind, wanted.params)

        def matches(view: records.EntryView) -> bool:
            pairs = [*codings(view.resource, "category"), (CATEGORY_SYSTEM, view.category)]
            return wanted.matches(pairs, _entry_date(view.resource))

        page = await api.run(
            request,
            lambda actor, purpose: records.search_entries(
                coffre.uow(),
                coffre.vault,
                actor,
                wanted.patient_id,
                purpose,
                kind,
                matches,
                offset=wanted.offset,
                count=wanted.count,
            ),
        )
        return wanted.answer(api, kind, [entry_resource(v) for v in page.items], page.more)

    async def create(request: Request) -> FhirResponse:
        resource = await api.resource(request, [kind])
        patient_id = _subject(resource)
        category = _coffre_category(resource, DEFAULT_CATEGORY[kind])
        entry_id = await api.run(
            request,
            lambda actor, purpose: records.add_clinical_entry(
                coffre.uow(), coffre.vault, actor, patient_id, resource, category, purpose
            ),
        )
        return _created({**resource, "id": entry_id}, api)

    routes.add_api_route(
        f"/{kind}/{{entry_id}}", read, methods=["GET"], response_class=FhirResponse
    )
    routes.add_api_route(f"/{kind}", search, methods=["GET"], response_class=FhirResponse)
    routes.add_api_route(f"/{kind}", create, methods=["POST"], response_class=FhirResponse)


def _attachment(resource: dict[str, Any]) -> tuple[str, bytes, str]:
    """The content type, the decoded data and the file name of a DocumentReference's one
    inline attachment."""
    contents = resource.get("content") or []
    attachment = contents[0].get("attachment", {}) if len(contents) == 1 else {}
    where = "DocumentReference.content[0].attachment"
    if not attachment.get("data") or not attachment.get("contentType"):
        raise Problem(
            400, "required", "Send one attachment with its contentType and data (base64).", where
        )
    try:
        data = base64.b64decode(attachment["data"], validate=True)
    except (binascii.Error, ValueError):
        raise Problem(400, "invalid", "The attachment's data is not base64.", where) from None
    return attachment["contentType"], data, attachment.get("title") or "document"


def _document_routes(routes: APIRouter, api: Api) -> None:
    coffre = api.coffre

    @routes.get("/DocumentReference/{document_id}", response_class=FhirResponse)
    async def read(document_id: str, request: Request) -> FhirResponse:
        info, _ = await api.run(
            request,
            lambda actor, purpose: records.open_document(
                coffre.uow(), coffre.vault, actor, document_id, purpose
            ),
        )
        return FhirResponse(document_resource(info))

    @routes.get("/DocumentReference", response_class=FhirResponse)
    async def search(request: Request) -> FhirResponse:
        wanted = RecordSearch.of(request)
        if wanted.count == 0:
            return await api.no_total(request, "DocumentReference", wanted.params)

        def matches(info: records.DocumentInfo) -> bool:
            return wanted.matches([(CATEGORY_SYSTEM, info.category)], info.created_at.isoformat())

        page = await api.run(
            request,
            lambda actor, purpose: records.search_documents(
                coffre.uow(),
                coffre.vault,
                actor,
                wanted.patient_id,
                purpose,
                matches,
                offset=wanted.offset,
                count=wanted.count,
            ),
        )
        found = [document_resource(i) for i in page.items]
        return wanted.answer(api, "DocumentReference", found, page.more)

    @routes.post("/DocumentReference", response_class=FhirResponse)
    async def create(request: Request) -> FhirResponse:
        resource = await api.resource(request, ["DocumentReference"])
        patient_id = _subject(resource)
        category = _coffre_category(resource, Category.DOCUMENTS)
        content_type, data, filename = _attachment(resource)
        info = await api.add_document(
            request,
            patient_id,
            io.BytesIO(data),
            content_type,
            title=str(resource.get("description") or filename),
            filename=filename,
            category=category,
        )
        return _created(document_resource(info), api)

    @routes.get("/Binary/{document_id}", response_model=None)
    async def content(document_id: str, request: Request) -> StreamingResponse:
        info, chunks = await api.run(
            request,
            lambda actor, purpose: records.open_document(
                coffre.uow(), coffre.vault, actor, document_id, purpose
            ),
        )
        return StreamingResponse(
            chunks,
            media_type=info.content_type,
            headers={
                "Content-Length": str(info.size),
                "Content-Disposition": "attachment",
                "Cache-Control": "no-store",
            },
        )


def add_routes(routes: APIRouter, api: Api) -> None:
    for kind in DEFAULT_CATEGORY:
        _entry_routes(routes, api, kind)
    _document_routes(routes, api)
