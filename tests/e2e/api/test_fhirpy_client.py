"""The FHIR API through fhirpy, the FHIR client library an integrator would pick, over real
HTTP: a Patient read and found by name and birth date or by identifier; Observations
searched by category and date and paged through `next` links; an Observation created and
read back; `$everything`; the patient's own access history; the patient's Consent read,
changed and saved; and refusals raised as the library's exceptions, naming the rule."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fhirpy import AsyncFHIRClient
from fhirpy.base.exceptions import AuthorizationError, ForbiddenError, OperationOutcome

from apicalls import personal_token
from careworld import World, build_world
from coffre.access import Category
from coffre.config import Settings
from liveserver import LiveServer, live_server

pytestmark = pytest.mark.anyio

VITAL_SIGNS = "http://terminology.hl7.org/CodeSystem/observation-category"


@pytest.fixture
def served(settings: Settings) -> Iterator[LiveServer]:
    with live_server(settings) as server:
        yield server


@pytest.fixture
def world(served: LiveServer) -> World:
    return build_world(served.coffre)


def fhir_client(
    served: LiveServer, world: World, username: str, scopes: str = "user/*.cruds"
) -> AsyncFHIRClient:
    secret = personal_token(served.coffre, world.clinic, username, scopes)
    return AsyncFHIRClient(served.fhir, authorization=f"Bearer {secret}")


def outcome_of(error: Exception) -> dict:  # type: ignore[type-arg]
    """The OperationOutcome a fhirpy exception carries: parsed for OperationOutcome, the
    raw body for the exceptions fhirpy raises by status (401, 403, 404)."""
    if isinstance(error, OperationOutcome):
        return dict(error.resource)
    return dict(json.loads(str(error)))


async def test_a_patient_is_read_and_found_by_name_and_birth_date_or_identifier(served, world):
    client = fhir_client(served, world, "dr.martin")
    patient = await client.reference("Patient", world.patient_id).to_resource()
    assert (patient.resourceType, patient.id) == ("Patient", world.patient_id)
    assert patient.get_by_path(["name", 0, "family"]) == "Lefèvre"
    assert patient.birthDate == "1985-05-12"

    found = client.resources("Patient").search(family="Lefèvre", birthdate="1985-05-12")
    assert [p.id for p in await found.fetch()] == [world.patient_id]
    [identifier] = patient.identifier
    by_identifier = client.resources("Patient").search(
        identifier=f"{identifier.system}|{identifier.value}"
    )
    assert (await by_identifier.get()).id == world.patient_id
    nobody = client.resources("Patient").search(family="Nobody", birthdate="1985-05-12")
    assert await nobody.fetch() == []


async def test_an_observation_is_created_read_back_and_found_by_category_and_date(served, world):
    client = fhir_client(served, world, "dr.martin")
    observation = client.resource(
        "Observation",
        status="final",
        code={"text": "Heart rate"},
        category=[{"coding": [{"system": VITAL_SIGNS, "code": "vital-signs"}]}],
        subject=client.reference("Patient", world.patient_id),
        effectiveDateTime="2026-03-04T09:30:00+01:00",
        valueQuantity={"value": 72, "unit": "/min"},
    )
    await observation.save()
    assert observation.id

    read = await client.reference("Observation", observation.id).to_resource()
    assert read.valueQuantity == {"value": 72, "unit": "/min"}
    assert read.subject.reference == f"Patient/{world.patient_id}"
    assert {"system": "urn:coffre:category", "code": "results"} in read.meta.tag

    mine = client.resources("Observation").search(patient=world.patient_id)
    vital = await mine.search(category="vital-signs", date="2026-03").fetch()
    assert [o.id for o in vital] == [observation.id]
    in_march = await mine.search(date__ge="2026-03-01", date__lt="2026-04-01").fetch()
    assert [o.id for o in in_march] == [observation.id]
    assert await mine.search(date__ge="2026-04-01").fetch() == []
    by_reference = client.resources("Observation").search(
        patient=client.reference("Patient", world.patient_id), category=f"{VITAL_SIGNS}|vital-signs"
    )
    assert [o.id for o in await by_reference.fetch()] == [observation.id]


async def test_observations_are_paged_through_next_links(served, world):
    client = fhir_client(served, world, "dr.martin")
    pages = client.resources("Observation").search(patient=world.patient_id).limit(1)
    first = await pages.fetch_raw()
    assert len(first.entry) == 1
    assert "total" not in first
    [after] = [link.url for link in first.link if link.relation == "next"]
    assert after.startswith(served.fhir + "/Observation?")

    every = [o.id async for o in pages]
    expected = {
        world.entry_ids[c]
        for c in (Category.CLINICAL_NOTES, Category.PRESCRIPTIONS, Category.RESULTS)
    }
    assert len(every) == len(set(every)) == len(expected)
    assert set(every) == expected
    assert [o.id for o in await pages.fetch_all()] == every


async def test_everything_is_one_bundle(served, world):
    client = fhir_client(served, world, "dr.martin")
    bundle = await client.reference("Patient", world.patient_id).execute(
        "$everything", method="get"
    )
    assert (bundle.resourceType, bundle.type) == ("Bundle", "searchset")
    found = {(e.resource.resourceType, e.resource.id) for e in bundle.entry}
    assert ("Patient", world.patient_id) in found
    assert ("DocumentReference", world.document_id) in found
    assert {kind for kind, _ in found} == {
        "Patient",
        "Observation",
        "Condition",
        "DocumentReference",
    }
    assert all(e.fullUrl.startswith(served.fhir + "/") for e in bundle.entry)


async def test_the_patient_searches_their_own_access_history(served, world):
    physician = fhir_client(served, world, "dr.martin")
    await physician.reference("Patient", world.patient_id).to_resource()
    own = fhir_client(served, world, "patient.hl", "user/*.rs")
    assert (await own.reference("Patient", world.patient_id).to_resource()).id == world.patient_id

    events = await own.resources("AuditEvent").search(patient=world.patient_id).fetch_all()
    assert events and all(e.resourceType == "AuditEvent" and e.recorded for e in events)
    reads = [e for e in events for c in e.subtype or [] if c.code == "records:patient:read"]
    assert len(reads) >= 2
    # Two at a time through `next` links: the same events, after the reading of the
    # history just made, which is journaled too.
    paged = [e async for e in own.resources("AuditEvent").search(patient=world.patient_id).limit(2)]
    assert [e.id for e in paged[1:]] == [e.id for e in events]
    assert "journal:history:read" in [c.code for c in paged[0].subtype]


async def test_the_patient_reads_their_consent_changes_it_and_saves_it(served, world):
    own = fhir_client(served, world, "patient.hl")
    consent = await own.reference("Consent", f"sharing-{world.patient_id}").to_resource()
    assert consent.status == "active" and "provision" not in consent.provision
    performer = {"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"}
    consent.provision["provision"] = [
        {
            "type": "deny",
            "actor": [
                {
                    "role": {"coding": [{**performer, "code": "PRF"}]},
                    "reference": {"reference": f"Practitioner/{world.physician.id}"},
                }
            ],
        }
    ]
    await consent.save()
    again = await own.reference("Consent", consent.id).to_resource()
    assert again.serialize() == consent.serialize()
    physician = fhir_client(served, world, "dr.martin")
    with pytest.raises(ForbiddenError):
        await physician.reference("Patient", world.patient_id).to_resource()
    with pytest.raises(ForbiddenError):
        await physician.reference("Consent", consent.id).to_resource()


async def test_refusals_are_raised_with_the_rule_that_decided(served, world):
    stranger = fhir_client(served, world, "dr.bernard")
    with pytest.raises(ForbiddenError) as denied:
        await stranger.reference("Patient", world.patient_id).to_resource()
    [issue] = outcome_of(denied.value)["issue"]
    assert (issue["severity"], issue["code"]) == ("error", "forbidden")
    assert issue["diagnostics"].startswith("Access denied by rule no-care-relationship")
    assert "Lefèvre" not in str(denied.value)

    narrow = fhir_client(served, world, "dr.martin", "user/Observation.rs")
    with pytest.raises(ForbiddenError) as scoped:
        await narrow.reference("Patient", world.patient_id).to_resource()
    assert "token-scope" in outcome_of(scoped.value)["issue"][0]["diagnostics"]

    own = fhir_client(served, world, "patient.hl", "user/*.rs")
    with pytest.raises(ForbiddenError):
        await own.resources("AuditEvent").search(patient="someone-else").fetch()

    physician = fhir_client(served, world, "dr.martin")
    with pytest.raises(OperationOutcome) as invalid:
        await (
            physician.resources("Observation")
            .search(patient=world.patient_id, date="March")
            .fetch()
        )
    [issue] = outcome_of(invalid.value)["issue"]
    assert (issue["code"], issue["expression"]) == ("invalid", ["date"])

    unknown = AsyncFHIRClient(served.fhir, authorization="Bearer made-up")
    with pytest.raises(AuthorizationError) as refused:
        await unknown.reference("Patient", world.patient_id).to_resource()
    assert outcome_of(refused.value)["issue"][0]["code"] == "login"
