"""The patient's choices and relationships: Consent (the patient's consent to sharing
their record among the professionals who care for them, with the exclusions and masks
they chose, read by the patient; given or withdrawn by POST; replaced as a whole by PUT,
`consent.py`) and EpisodeOfCare (the care relationships that open the record to a
professional or a care team, for a time)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from coffre import records
from coffre.access import Purpose
from coffre.api.body import search_parameters
from coffre.api.calls import Api, instant
from coffre.api.consent import (
    GRANTING,
    PERFORMER_SYSTEM,
    WITHDRAWING,
    choices_of,
    consent_id,
    patient_of,
)
from coffre.api.outcomes import FhirResponse, Problem
from coffre.api.patients import if_match
from coffre.api.search import patient_id_of, searchset
from coffre.identity import Actor

RELATIONSHIP_SYSTEM = "urn:coffre:relationship"


def episode(view: records.RelationshipView, patient_id: str) -> dict[str, Any]:
    """A care relationship as an EpisodeOfCare: who (a Practitioner or a CareTeam), its kind
    and the period it opens the record for."""
    period = {"start": instant(view.started_at)}
    if view.ended_at is not None:
        period["end"] = instant(view.ended_at)
    resource: dict[str, Any] = {
        "resourceType": "EpisodeOfCare",
        "id": view.id,
        "status": "active" if view.active else "finished",
        "type": [{"coding": [{"system": RELATIONSHIP_SYSTEM, "code": view.kind}]}],
        "patient": {"reference": f"Patient/{patient_id}"},
        "period": period,
    }
    if view.professional_id is not None:
        resource["careManager"] = {"reference": f"Practitioner/{view.professional_id}"}
    if view.care_team_id is not None:
        resource["team"] = [{"reference": f"CareTeam/{view.care_team_id}"}]
    return resource


CONSENT_SCOPE = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/consentscope",
            "code": "patient-privacy",
        }
    ]
}
CONSENT_CATEGORY = {"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}
SHARING_POLICY = "urn:coffre:policy:sharing"
PERFORMER = {"coding": [{"system": PERFORMER_SYSTEM, "code": "PRF"}]}


def consent_resource(choices: records.Choices, patient_id: str) -> dict[str, Any]:
    """The patient's sharing choices as one Consent: sharing among the professionals who
    care for them is permitted (status active) or not (inactive); each exclusion is a
    nested deny for that professional, each masked document a deny for that document. Its
    version is derived from the choices (`records.Choices.version`)."""
    denials: list[dict[str, Any]] = [
        {
            "type": "deny",
            "actor": [{"role": PERFORMER, "reference": {"reference": f"Practitioner/{who}"}}],
        }
        for who in choices.excluded
    ]
    denials += [
        {
            "type": "deny",
            "data": [{"meaning": "instance", "reference": {"reference": f"DocumentReference/{d}"}}],
        }
        for d in choices.masked
    ]
    provision: dict[str, Any] = {"type": "permit"}
    if denials:
        provision["provision"] = denials
    return {
        "resourceType": "Consent",
        "id": consent_id(patient_id),
        "meta": {"versionId": str(choices.version)},
        "status": "active" if choices.consent else "inactive",
        "scope": CONSENT_SCOPE,
        "category": [CONSENT_CATEGORY],
        "patient": {"reference": f"Patient/{patient_id}"},
        "policyRule": {"coding": [{"system": SHARING_POLICY, "code": "care-team-sharing"}]},
        "provision": provision,
    }


def _choice_purpose(actor: Actor, purpose: Purpose) -> Purpose:
    """A patient's change of their choices is their own request; others act for care."""
    return Purpose.PATIENT_REQUEST if actor.role == "patient" else purpose


def add_routes(routes: APIRouter, api: Api) -> None:
    coffre = api.coffre

    @routes.get("/EpisodeOfCare", response_class=FhirResponse)
    async def relationships(request: Request) -> FhirResponse:
        params = search_parameters(request, ("patient",))
        patient_id = patient_id_of((params.get("patient") or [None])[0])
        views = await api.run(
            request,
            lambda actor, purpose: records.list_relationships(
                coffre.uow(), coffre.vault, actor, patient_id, _choice_purpose(actor, purpose)
            ),
        )
        found = [episode(v, patient_id) for v in views]
        return FhirResponse(searchset(api.base, "EpisodeOfCare", params, found))

    @routes.get("/Consent", response_class=FhirResponse)
    async def choices(request: Request) -> FhirResponse:
        params = search_parameters(request, ("patient",))
        patient_id = patient_id_of((params.get("patient") or [None])[0])
        found = await api.run(
            request,
            lambda actor, purpose: records.read_choices(
                coffre.uow(), coffre.vault, actor, patient_id, _choice_purpose(actor, purpose)
            ),
        )
        return FhirResponse(
            searchset(api.base, "Consent", params, [consent_resource(found, patient_id)])
        )

    @routes.get("/Consent/{resource_id}", response_class=FhirResponse)
    async def read_consent(resource_id: str, request: Request) -> FhirResponse:
        patient_id = patient_of(resource_id)
        found = await api.run(
            request,
            lambda actor, purpose: records.read_choices(
                coffre.uow(), coffre.vault, actor, patient_id, _choice_purpose(actor, purpose)
            ),
        )
        return FhirResponse(
            consent_resource(found, patient_id), headers={"ETag": f'W/"{found.version}"'}
        )

    @routes.put("/Consent/{resource_id}", response_class=FhirResponse)
    async def replace_consent(resource_id: str, request: Request) -> FhirResponse:
        patient_id = patient_of(resource_id)
        resource = await api.resource(request, ["Consent"], resource_id)
        wanted, where = choices_of(resource, patient_id)
        expected = if_match(request)

        def change(actor: Actor, purpose: Purpose) -> records.Choices:
            try:
                return records.change_choices(
                    coffre.uow(),
                    coffre.vault,
                    actor,
                    patient_id,
                    wanted,
                    _choice_purpose(actor, purpose),
                    expected_version=expected,
                )
            except records.NothingToChange:
                return wanted
            except records.UnknownChoice as exc:
                raise Problem(400, "invalid", exc.message, where.get(exc.subject_id)) from None

        now = await api.run(request, change)
        return FhirResponse(
            consent_resource(now, patient_id), headers={"ETag": f'W/"{now.version}"'}
        )

    @routes.post("/Consent", response_class=FhirResponse)
    async def consent(request: Request) -> FhirResponse:
        resource = await api.resource(request, ["Consent"])
        reference = (resource.get("patient") or {}).get("reference")
        patient_id = patient_id_of(reference, "Consent.patient")
        status = resource.get("status")
        if status not in GRANTING | WITHDRAWING:
            raise Problem(
                400,
                "invalid",
                "Consent.status must be active (share) or inactive (stop sharing).",
                "Consent.status",
            )
        granted = status in GRANTING

        def change(actor: Actor, purpose: Purpose) -> bool:
            try:
                records.set_consent(
                    coffre.uow(),
                    coffre.vault,
                    actor,
                    patient_id,
                    granted,
                    _choice_purpose(actor, purpose),
                )
            except records.NothingToChange:
                return False
            return True

        changed = await api.run(request, change)
        answer = {k: v for k, v in resource.items() if k != "id"}
        return FhirResponse(answer, status_code=201 if changed else 200)
