"""The FHIR API's first calls over ASGI: the CapabilityStatement, and a Patient read by
bearer token, decided and journaled, every failure an OperationOutcome with its status."""

from __future__ import annotations

import pytest
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.patient import Patient

from apicalls import FHIR_JSON, bearer, personal_token, problem
from careworld import World
from coffre import signin
from coffre.identity import local_operator
from factories import journal_records

pytestmark = pytest.mark.anyio


def token(coffre, world: World, username: str, scopes: str = "user/Patient.rs") -> str:  # type: ignore[no-untyped-def]
    return personal_token(coffre, world.clinic, username, scopes)


async def test_the_capability_statement_says_what_is_supported(client):
    response = await client.get("/fhir/metadata")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(FHIR_JSON)
    statement = CapabilityStatement.model_validate(response.json())
    [rest] = statement.rest
    supported = {r.type: [i.code for i in r.interaction] for r in rest.resource}
    assert supported["Patient"] == [
        "read",
        "vread",
        "history-instance",
        "search-type",
        "create",
        "update",
        "delete",
    ]
    [patient] = [r for r in rest.resource if r.type == "Patient"]
    assert (patient.versioning, patient.readHistory) == ("versioned-update", False)
    assert set(supported) == {
        "Patient",
        "Observation",
        "Condition",
        "DocumentReference",
        "Binary",
        "AuditEvent",
        "EpisodeOfCare",
        "Consent",
        "Practitioner",
        "PractitionerRole",
        "Organization",
        "CareTeam",
    }


async def test_a_practitioner_reads_a_patient_with_a_token(client, coffre, world):
    secret = token(coffre, world, "dr.martin")
    response = await client.get(f"/fhir/Patient/{world.patient_id}", headers=bearer(secret))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(FHIR_JSON)
    patient = Patient.model_validate(response.json())
    assert patient.id == world.patient_id
    last = journal_records(coffre)[-1]
    assert (last.action, last.outcome, last.actor_id, last.patient_ids) == (
        "records:patient:read",
        "success",
        world.physician.id,
        (world.patient_id,),
    )
    assert last.source == "198.51.100.7"


async def test_no_credential_or_a_bad_one_is_401(client, coffre, world):
    path = f"/fhir/Patient/{world.patient_id}"
    anonymous = await client.get(path)
    assert "bearer token" in problem(anonymous, 401, "login")
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    made_up = await client.get(path, headers=bearer("made-up"))
    assert "not known" in problem(made_up, 401, "login")
    assert 'error="invalid_token"' in made_up.headers["www-authenticate"]
    secret = token(coffre, world, "dr.martin")
    info = signin.token_actor(coffre.uow(), secret)
    assert info.session_id is not None
    signin.revoke_token(coffre.uow(), local_operator(world.clinic), info.session_id)
    revoked = await client.get(path, headers=bearer(secret))
    assert "revoked" in problem(revoked, 401, "login")


async def test_a_denial_names_its_rule_and_no_data(client, coffre, world):
    path = f"/fhir/Patient/{world.patient_id}"
    stranger = await client.get(path, headers=bearer(token(coffre, world, "dr.bernard")))
    said = problem(stranger, 403, "forbidden")
    assert said.startswith("Access denied by rule no-care-relationship")
    assert "Lefèvre" not in stranger.text and "Hélène" not in stranger.text
    narrow = token(coffre, world, "dr.martin", "user/Observation.rs")
    assert "token-scope" in problem(
        await client.get(path, headers=bearer(narrow)), 403, "forbidden"
    )
    assert journal_records(coffre)[-1].rule == "token-scope"


async def test_unsupported_paths_are_outcomes(client):
    assert "does not support" in problem(
        await client.get("/fhir/Encounter/1"), 404, "not-supported"
    )


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/fhir/Observation/abc", "GET"),
        ("PATCH", "/fhir/Patient/abc", "DELETE, GET, PUT"),
        ("PUT", "/fhir/Patient", "GET, POST"),
        ("POST", "/fhir/metadata", "GET"),
        ("DELETE", "/fhir/AuditEvent", "GET"),
        ("OPTIONS", "/fhir/metadata", "GET"),
    ],
)
async def test_a_method_a_path_does_not_take_is_405_with_allow(client, method, path, allowed):
    answer = await client.request(method, path, content=b"{}")
    said = problem(answer, 405, "not-supported")
    assert answer.headers["allow"] == allowed
    assert f"does not support {method} here; it supports {allowed}." in said


async def test_head_is_refused_as_an_outcome_with_allow(client):
    answer = await client.head("/fhir/metadata")
    assert (answer.status_code, answer.headers["allow"]) == (405, "GET")
    assert answer.headers["content-type"].startswith(FHIR_JSON)


async def test_the_openapi_description_names_the_fhir_routes(client):
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"/fhir/metadata", "/fhir/Patient/{patient_id}"} <= set(paths)
