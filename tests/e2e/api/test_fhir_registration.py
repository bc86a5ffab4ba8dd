"""A Patient's versions (vread and history of the version kept), registering a new patient
through the API, care teams in the directory, and the scopes an insurer's token needs."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.patient import Patient

from apicalls import FHIR_JSON, bearer, ids, personal_token, problem, searchset
from coffre import identity
from coffre.records import NIR_SYSTEM
from factories import journal_records, nir, patient

pytestmark = pytest.mark.anyio

NEWCOMER = patient(
    family="Arrivant",
    given="Basile",
    birth_date="1999-09-09",
    gender="male",
    national=(NIR_SYSTEM, nir(sex=1, year=99, month=9, department="33", serial=123)),
    email="b.arrivant@example.org",
    phone="+33612121212",
    address="9 quai des Chartrons",
)


def token(coffre, organisation: str, username: str, scopes: str = "user/*.cruds") -> dict[str, str]:  # type: ignore[no-untyped-def]
    return bearer(personal_token(coffre, organisation, username, scopes))


def count(coffre, table: str) -> int:  # type: ignore[no-untyped-def]
    with coffre.engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


async def test_a_read_carries_the_version_and_vread_answers_only_the_one_kept(
    client, coffre, world
):
    doctor, staff = (token(coffre, world.clinic, u) for u in ("dr.martin", "acc.petit"))
    path = f"/fhir/Patient/{world.patient_id}"
    read = await client.get(path, headers=doctor)
    assert read.status_code == 200 and read.headers["etag"] == 'W/"1"'
    assert read.json()["meta"]["versionId"] == "1"
    first = await client.get(f"{path}/_history/1", headers=doctor)
    assert first.status_code == 200 and first.json() == read.json()

    stored = {k: v for k, v in read.json().items() if k != "meta"}
    updated = await client.put(
        path,
        content=Patient.model_validate({**stored, "gender": "other"}).model_dump_json(),
        headers={**staff, "Content-Type": FHIR_JSON, "If-Match": 'W/"1"'},
    )
    assert updated.status_code == 200 and updated.headers["etag"] == 'W/"2"'
    for tag in ('W/"1"', 'W/"²"'):
        refused = await client.put(
            path,
            content=Patient.model_validate(stored).model_dump_json(),
            headers={**staff, "Content-Type": FHIR_JSON, "If-Match": tag.encode()},
        )
        if tag == 'W/"1"':
            assert "not 1" in problem(refused, 412, "conflict")
        else:
            assert "If-Match" in problem(refused, 400, "invalid")

    gone = await client.get(f"{path}/_history/1", headers=doctor)
    said = problem(gone, 404, "not-found")
    assert "only the current version (2)" in said
    # Nothing of it was given: the read is journaled as failed, not as a success.
    entry = journal_records(coffre)[-1]
    assert (entry.action, entry.outcome) == ("records:patient:read", "failed")
    odd = await client.get(f"{path}/_history/x2", headers=doctor)
    assert "only the current version (2)" in problem(odd, 404, "not-found")
    current = await client.get(f"{path}/_history/2", headers=doctor)
    assert current.json()["gender"] == "other"
    history = await client.get(f"{path}/_history", headers=doctor)
    bundle = Bundle.model_validate(history.json())
    assert bundle.type == "history" and ids(bundle) == [world.patient_id]
    [entry] = bundle.entry
    assert (entry.request.method, entry.response.etag) == ("PUT", 'W/"2"')


async def test_a_version_is_not_told_to_someone_who_may_not_read_the_patient(client, coffre, world):
    stranger = token(coffre, world.clinic, "dr.bernard")
    for version in ("1", "7"):
        response = await client.get(
            f"/fhir/Patient/{world.patient_id}/_history/{version}", headers=stranger
        )
        assert "no-care-relationship" in problem(response, 403, "forbidden")
    entry = journal_records(coffre)[-1]
    assert (entry.action, entry.outcome) == ("records:patient:read", "denied")


async def test_the_reception_registers_a_new_patient_once(client, coffre, world):
    staff = {**token(coffre, world.clinic, "acc.petit"), "Content-Type": FHIR_JSON}
    before = count(coffre, "patients")
    response = await client.post("/fhir/Patient", json=NEWCOMER, headers=staff)
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["location"].endswith(f"/fhir/Patient/{created['id']}/_history/1")
    assert (created["name"], created["meta"]["versionId"]) == (NEWCOMER["name"], "1")
    assert count(coffre, "patients") == before + 1
    entry = journal_records(coffre)[-1]
    assert (entry.action, entry.outcome, entry.patient_ids) == (
        "records:patient:create",
        "success",
        (created["id"],),
    )

    # Indexed like an imported patient (national id, e-mail, phone, family + birth date);
    # without consent and a relationship, no one at the clinic finds it yet.
    with coffre.engine.connect() as conn:
        kinds = conn.execute(
            sa.text("SELECT DISTINCT kind FROM patient_index WHERE patient_id = :id"),
            {"id": created["id"]},
        ).scalars()
        assert set(kinds) == {"national-id", "email", "phone", "family-birth", "family", "address"}
    number = NEWCOMER["identifier"][0]["value"]
    found = await client.get(f"/fhir/Patient?identifier={NIR_SYSTEM}|{number}", headers=staff)
    assert ids(searchset(found)) == []

    again = await client.post("/fhir/Patient", json=NEWCOMER, headers=staff)
    assert "already registered" in problem(again, 409, "duplicate")
    assert count(coffre, "patients") == before + 1
    entry = journal_records(coffre)[-1]
    assert (entry.action, entry.outcome, entry.patient_ids) == (
        "records:patient:create",
        "failed",
        (created["id"],),
    )


async def test_a_bad_registration_adds_nothing_and_leaves_no_key(client, coffre, world):
    staff = {**token(coffre, world.clinic, "acc.petit"), "Content-Type": FHIR_JSON}
    before = count(coffre, "patients"), coffre.vault.keyring.store.count_data_keys()
    invalid = {**NEWCOMER, "gender": "sometimes"}
    response = await client.post("/fhir/Patient", json=invalid, headers=staff)
    assert "gender 'sometimes' is not one of female, male, other, unknown" in problem(
        response, 400, "invalid"
    )
    assert response.json()["issue"][0]["expression"] == ["Patient.gender"]
    doctor = {**token(coffre, world.clinic, "dr.martin"), "Content-Type": FHIR_JSON}
    refused = await client.post("/fhir/Patient", json=NEWCOMER, headers=doctor)
    assert "registration-matrix" in problem(refused, 403, "forbidden")
    assert (
        count(coffre, "patients"),
        coffre.vault.keyring.store.count_data_keys(),
    ) == before


async def test_care_teams_are_in_the_directory_with_their_members(client, coffre, world):
    with coffre.uow() as uow:
        team = identity.create_care_team(
            uow, world.clinic, "Équipe de diabétologie", [world.physician.id, world.colleague.id]
        )
        uow.commit()
    headers = token(coffre, world.clinic, "dr.bernard")
    read = await client.get(f"/fhir/CareTeam/{team}", headers=headers)
    assert read.status_code == 200
    members = {p["member"]["reference"] for p in read.json()["participant"]}
    assert members == {f"Practitioner/{world.physician.id}", f"Practitioner/{world.colleague.id}"}
    assert read.json()["managingOrganization"] == [{"reference": f"Organization/{world.clinic}"}]
    by_member = await client.get(
        f"/fhir/CareTeam?participant=Practitioner/{world.physician.id}", headers=headers
    )
    assert ids(searchset(by_member)) == [team]
    elsewhere = await client.get(f"/fhir/CareTeam?organization={world.insurer}", headers=headers)
    assert ids(searchset(elsewhere)) == []
    problem(await client.get("/fhir/CareTeam/nope", headers=headers), 404, "not-found")
    narrow = token(coffre, world.clinic, "dr.bernard", "user/Patient.rs")
    said = problem(await client.get("/fhir/CareTeam", headers=narrow), 403, "forbidden")
    assert "CareTeam" in said


async def test_an_insurer_token_needs_the_coverage_scopes(client, coffre, world):
    member = "/fhir/$eligibility?member=MT-0001"
    usage = "/fhir/$usage?since=2026-01-01&until=2026-02-01"
    reads = token(coffre, world.insurer, "agent.mutuelle", "user/Coverage.r")
    assert (await client.get(member, headers=reads)).status_code == 200
    said = problem(await client.get(usage, headers=reads), 403, "forbidden")
    assert "user/Coverage.s" in said
    searches = token(coffre, world.insurer, "agent.mutuelle", "user/Coverage.s")
    assert (await client.get(usage, headers=searches)).status_code == 200
    assert "token-scope" in problem(await client.get(member, headers=searches), 403, "forbidden")
