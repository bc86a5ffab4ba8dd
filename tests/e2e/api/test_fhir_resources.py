"""The FHIR resources over ASGI as a client would use them: Patient search, update, erasure
and $everything; entries and documents read, searched and created; a document's content
streamed; the patient's access history; the insurer's two operations; and bad input, each
an OperationOutcome with nothing written."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.parameters import Parameters

from apicalls import FHIR_JSON, bearer, ids, new_consent, personal_token, problem, searchset
from careworld import PDF, World, account
from coffre import records, signin
from coffre.access import Category, Purpose
from coffre.identity import local_operator
from factories import journal_records, patient
from machineclients import AUDIENCE, KEY, assertion, jwks

pytestmark = pytest.mark.anyio
NEW_OBSERVATION = {
    "resourceType": "Observation",
    "status": "final",
    "code": {"text": "Heart rate"},
    "category": [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                    "code": "vital-signs",
                }
            ]
        }
    ],
    "effectiveDateTime": "2026-03-04T09:30:00+01:00",
    "valueQuantity": {"value": 72, "unit": "/min"},
}


def token(coffre, world: World, username: str, scopes: str = "user/*.cruds") -> dict[str, str]:  # type: ignore[no-untyped-def]
    return bearer(personal_token(coffre, world.clinic, username, scopes))


def count_rows(coffre, table: str) -> int:  # type: ignore[no-untyped-def]
    with coffre.engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


async def test_a_patient_search_returns_only_patients_the_caller_may_see(client, coffre, world):
    path = "/fhir/Patient?family=Lefèvre&birthdate=1985-05-12"
    found = searchset(await client.get(path, headers=token(coffre, world, "dr.martin")))
    assert ids(found) == [world.patient_id]
    # A colleague without relationship gets an empty page, like a search that finds no one.
    hidden = await client.get(path, headers=token(coffre, world, "dr.bernard"))
    nobody = await client.get(
        "/fhir/Patient?family=Nobody&birthdate=1985-05-12",
        headers=token(coffre, world, "dr.bernard"),
    )
    assert ids(searchset(hidden)) == ids(searchset(nobody)) == []
    assert hidden.json()["entry"] == nobody.json()["entry"] == []
    [withheld] = [
        r
        for r in journal_records(coffre)
        if r.action == "records:patient:search" and r.outcome == "denied"
    ]
    assert (withheld.actor_id, withheld.patient_ids) == (world.colleague.id, (world.patient_id,))
    assert "Lefèvre" not in hidden.text


async def test_search_by_identifier_email_and_phone_through_the_blind_index(client, coffre, world):
    headers = token(coffre, world, "dr.martin")
    held = (await client.get(f"/fhir/Patient/{world.patient_id}", headers=headers)).json()
    [identifier] = held["identifier"]
    telecom = {t["system"]: t["value"] for t in held["telecom"]}
    for query in (
        {"identifier": f"{identifier['system']}|{identifier['value']}"},
        {"email": telecom["email"].upper()},
        {"phone": telecom["phone"]},
    ):
        found = searchset(await client.get("/fhir/Patient", params=query, headers=headers))
        assert ids(found) == [world.patient_id], query
    wrong = await client.get("/fhir/Patient?identifier=urn:x|1", headers=headers)
    assert "identifier must be" in problem(wrong, 400, "invalid")
    nothing = await client.get("/fhir/Patient", headers=headers)
    assert "Search by exactly one of" in problem(nothing, 400, "invalid")


async def test_unknown_search_parameters_are_ignored_unless_strict(client, coffre, world):
    headers = token(coffre, world, "dr.martin")
    path = "/fhir/Patient?family=Lefèvre&birthdate=1985-05-12&colour=blue"
    lenient = searchset(await client.get(path, headers=headers))
    assert ids(lenient) == [world.patient_id]
    assert "colour" not in lenient.link[0].url
    strict = await client.get(path, headers={**headers, "Prefer": "handling=strict"})
    assert "colour" in problem(strict, 400, "not-supported")
    # A parameter without a name is unknown too, and the answer still valid FHIR.
    unnamed = await client.get(f"{path}&=x", headers={**headers, "Prefer": "handling=strict"})
    assert "colour" in problem(unnamed, 400, "not-supported")


async def test_paging_has_next_links_and_never_a_total(client, coffre, world):
    headers = token(coffre, world, "dr.martin")
    first = searchset(
        await client.get(f"/fhir/Observation?patient={world.patient_id}&_count=1", headers=headers)
    )
    assert len(first.entry or []) == 1
    [after] = [link.url for link in first.link if link.relation == "next"]
    second = searchset(
        await client.get(after.removeprefix("http://localhost:8000"), headers=headers)
    )
    assert ids(second) and ids(second) != ids(first)


@pytest.mark.parametrize(
    "search",
    [
        "Patient?family=Lefèvre&birthdate=1985-05-12",
        "Observation?patient={patient}",
        "Condition?patient={patient}",
        "DocumentReference?patient={patient}",
        "AuditEvent?patient={patient}",
        "Practitioner?name=martin",
    ],
)
async def test_a_count_of_zero_reads_nothing_and_says_no_total_is_given(
    client, coffre, world, search
):
    path = "/fhir/" + search.format(patient=world.patient_id) + "&_count=0"
    headers = token(coffre, world, "dr.martin")
    before = len(journal_records(coffre))
    anonymous = await client.get(path)
    assert anonymous.status_code == 401
    answer = await client.get(path, headers=headers)
    bundle = searchset(answer)
    assert bundle.total is None and [link.relation for link in bundle.link] == ["self"]
    [note] = bundle.entry or []
    assert note.search.mode == "outcome"
    assert note.resource.issue[0].severity == "information"
    assert "no totals" in note.resource.issue[0].diagnostics
    # Nothing was read, so nothing was journaled.
    assert len(journal_records(coffre)) == before


async def test_observations_by_category_and_date(client, coffre, world):
    headers = token(coffre, world, "dr.martin")
    created = await client.post(
        "/fhir/Observation",
        headers={**headers, "Content-Type": FHIR_JSON},
        content=json.dumps(
            {**NEW_OBSERVATION, "subject": {"reference": f"Patient/{world.patient_id}"}}
        ),
    )
    assert created.status_code == 201, created.text
    new_id = created.json()["id"]
    assert created.headers["location"].endswith(f"/fhir/Observation/{new_id}")
    base = f"/fhir/Observation?patient={world.patient_id}"
    vital = searchset(await client.get(base + "&category=vital-signs", headers=headers))
    assert ids(vital) == [new_id]
    in_march = searchset(await client.get(base + "&date=2026-03", headers=headers))
    assert ids(in_march) == [new_id]
    later = searchset(await client.get(base + "&date=ge2026-04-01", headers=headers))
    assert ids(later) == []
    coffre_category = searchset(
        await client.get(base + "&category=urn:coffre:category|results", headers=headers)
    )
    assert new_id in ids(coffre_category)
    read = await client.get(f"/fhir/Observation/{new_id}", headers=headers)
    assert read.status_code == 200
    assert read.json()["valueQuantity"]["value"] == 72
    assert read.json()["subject"] == {"reference": f"Patient/{world.patient_id}"}
    # A Condition's id is not an Observation: 404 for a caller who may read that Condition,
    # the same refusal as for any Observation of that patient for one who may not.
    condition = world.entry_ids[Category.MENTAL_HEALTH]
    assert problem(
        await client.get(f"/fhir/Observation/{condition}", headers=headers), 404, "not-found"
    )
    stranger = token(coffre, world, "dr.bernard")
    assert "no-care-relationship" in problem(
        await client.get(f"/fhir/Observation/{condition}", headers=stranger), 403, "forbidden"
    )
    bad_date = await client.get(base + "&date=March", headers=headers)
    assert "date" in problem(bad_date, 400, "invalid")


async def test_a_pharmacist_sees_only_the_categories_of_their_profession(client, coffre, world):
    records_seen = searchset(
        await client.get(
            f"/fhir/Condition?patient={world.patient_id}",
            headers=token(coffre, world, "dr.martin"),
        )
    )
    assert ids(records_seen) == [world.entry_ids[Category.MENTAL_HEALTH]]


async def test_documents_are_described_searched_created_and_streamed(client, coffre, world):
    headers = token(coffre, world, "dr.martin")
    described = await client.get(f"/fhir/DocumentReference/{world.document_id}", headers=headers)
    assert described.status_code == 200
    attachment = described.json()["content"][0]["attachment"]
    assert attachment["url"] == f"Binary/{world.document_id}"
    content = await client.get(f"/fhir/Binary/{world.document_id}", headers=headers)
    assert content.status_code == 200
    assert content.content == PDF
    assert content.headers["content-type"] == "application/pdf"
    data = b"%PDF-1.7 scan"
    created = await client.post(
        "/fhir/DocumentReference",
        headers={**headers, "Content-Type": FHIR_JSON},
        content=json.dumps(
            {
                "resourceType": "DocumentReference",
                "status": "current",
                "subject": {"reference": f"Patient/{world.patient_id}"},
                "description": "Lettre",
                "content": [
                    {
                        "attachment": {
                            "contentType": "application/pdf",
                            "data": base64.b64encode(data).decode(),
                            "title": "lettre.pdf",
                        }
                    }
                ],
            }
        ),
    )
    assert created.status_code == 201, created.text
    new_id = created.json()["id"]
    found = searchset(
        await client.get(f"/fhir/DocumentReference?patient={world.patient_id}", headers=headers)
    )
    assert ids(found) == [world.document_id, new_id]
    assert (await client.get(f"/fhir/Binary/{new_id}", headers=headers)).content == data
    lying = await client.post(
        "/fhir/DocumentReference",
        headers={**headers, "Content-Type": FHIR_JSON},
        content=json.dumps(
            {
                "resourceType": "DocumentReference",
                "status": "current",
                "subject": {"reference": f"Patient/{world.patient_id}"},
                "content": [{"attachment": {"contentType": "application/pdf", "data": "aGVsbG8="}}],
            }
        ),
    )
    problem(lying, 422, "business-rule")


async def test_everything_is_one_bundle_of_what_the_caller_may_see(client, coffre, world):
    headers = token(coffre, world, "dr.martin")
    bundle = searchset(
        await client.get(f"/fhir/Patient/{world.patient_id}/$everything", headers=headers)
    )
    kinds = sorted({e.resource.get_resource_type() for e in bundle.entry or []})
    assert kinds == ["Condition", "DocumentReference", "Observation", "Patient"]


async def test_a_patient_reads_their_own_record_and_history_not_anothers(client, coffre, world):
    own = token(coffre, world, "patient.hl", "user/*.cruds")
    read = await client.get(f"/fhir/Patient/{world.patient_id}", headers=own)
    assert read.status_code == 200, read.text
    history = searchset(
        await client.get(f"/fhir/AuditEvent?patient={world.patient_id}", headers=own)
    )
    events = [AuditEvent.model_validate(e.resource.model_dump()) for e in history.entry or []]
    assert events and all(e.recorded for e in events)
    assert any(c.code == "records:patient:read" for e in events for c in e.subtype or [] if c.code)
    writes = await client.put(
        f"/fhir/Patient/{world.patient_id}",
        headers={**own, "Content-Type": FHIR_JSON},
        content=json.dumps({**patient(family="Autre"), "id": world.patient_id}),
    )
    assert "patient-own-record" in problem(writes, 403, "forbidden")


async def test_an_update_checks_the_version_and_writes_nothing_on_conflict(client, coffre, world):
    headers = {**token(coffre, world, "acc.petit"), "Content-Type": FHIR_JSON}
    body = json.dumps({**patient(family="Lefèvre-Martin"), "id": world.patient_id})
    path = f"/fhir/Patient/{world.patient_id}"
    updated = await client.put(path, headers={**headers, "If-Match": 'W/"1"'}, content=body)
    assert updated.status_code == 200, updated.text
    assert updated.headers["etag"] == 'W/"2"'
    stale = await client.put(path, headers={**headers, "If-Match": 'W/"1"'}, content=body)
    assert "version 2" in problem(stale, 412, "conflict")
    other_id = await client.put(
        path, headers=headers, content=json.dumps({**patient(), "id": "someone-else"})
    )
    assert problem(other_id, 400, "invalid")


async def test_only_the_organisations_dpo_erases_a_patient(client, coffre, world):
    account(coffre, world.clinic, "dpo.parc", "data-protection-officer")
    path = f"/fhir/Patient/{world.patient_id}?reason=subject-request"
    refused = await client.delete(path, headers=token(coffre, world, "dr.martin"))
    assert "erasure-role" in problem(refused, 403, "forbidden")
    erased = await client.delete(path, headers=token(coffre, world, "dpo.parc"))
    assert erased.status_code == 204
    gone = await client.get(
        f"/fhir/Patient/{world.patient_id}", headers=token(coffre, world, "dpo.parc")
    )
    assert gone.status_code in (403, 410)


async def test_the_insurer_asks_eligibility_and_usage_and_nothing_else(client, coffre, world):
    headers = token(coffre, world, "agent.mutuelle")
    covered = await client.get("/fhir/$eligibility?member=MT-0001&date=2026-01-10", headers=headers)
    assert covered.status_code == 200
    answer = Parameters.model_validate(covered.json())
    assert {p.name: p.valueBoolean for p in answer.parameter if p.name == "covered"} == {
        "covered": True
    }
    usage = await client.get("/fhir/$usage?since=2026-01-01&until=2026-02-01", headers=headers)
    assert usage.status_code == 200
    assert Parameters.model_validate(usage.json())
    search = await client.get("/fhir/Patient?email=person0@example.org", headers=headers)
    assert "insurer-scope" in problem(search, 403, "forbidden")
    physician = token(coffre, world, "dr.martin")
    refused = await client.get("/fhir/$eligibility?member=MT-0001", headers=physician)
    problem(refused, 403, "forbidden")


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code", "said"),
    [
        (b"{not json", FHIR_JSON, 400, "structure", "not valid JSON"),
        (b'{"resourceType": "Patient"}', FHIR_JSON, 400, "invalid", "Observation"),
        (b"[]", FHIR_JSON, 400, "invalid", "must be a"),
        (b"{}", "text/plain", 415, "not-supported", "application/fhir+json"),
        (
            json.dumps({**NEW_OBSERVATION, "subject": {"reference": "Group/1"}}).encode(),
            FHIR_JSON,
            400,
            "invalid",
            "subject",
        ),
        (
            json.dumps({**NEW_OBSERVATION, "subject": {"reference": 7}}).encode(),
            FHIR_JSON,
            400,
            "invalid",
            "not valid FHIR R4",
        ),
        (
            (b'{"resourceType": "Observation", "x": ' + b"[" * 100 + b"]" * 100 + b"}"),
            FHIR_JSON,
            400,
            "too-costly",
            "nests deeper",
        ),
        (b'{"a": "' + b"x" * 2_000_000 + b'"}', FHIR_JSON, 413, "too-costly", "larger than"),
    ],
    ids=[
        "malformed",
        "wrong-type",
        "not-object",
        "media-type",
        "bad-reference",
        "invalid-r4",
        "deep",
        "huge",
    ],
)
async def test_bad_input_is_an_outcome_and_writes_nothing(
    client, coffre, world, body, content_type, status, code, said
):
    headers = {**token(coffre, world, "dr.martin"), "Content-Type": content_type}
    before = count_rows(coffre, "clinical_entries"), len(journal_records(coffre))
    response = await client.post("/fhir/Observation", headers=headers, content=body)
    assert said in problem(response, status, code)
    assert (
        count_rows(coffre, "clinical_entries"),
        len(journal_records(coffre)),
    ) == before


_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"


@pytest.mark.parametrize(
    ("resource", "path"),
    [
        ({**NEW_OBSERVATION, "status": "nonsense"}, "Observation.status"),
        (
            {
                "resourceType": "Condition",
                "clinicalStatus": {"coding": [{"system": _CLINICAL, "code": "sleeping"}]},
                "code": {"text": "Asthma"},
            },
            "Condition.clinicalStatus",
        ),
        (
            {
                "resourceType": "Condition",
                "clinicalStatus": {"text": "active, we think"},
                "code": {"text": "Asthma"},
            },
            "Condition.clinicalStatus",
        ),
    ],
    ids=["observation-status", "condition-code", "condition-text-only"],
)
async def test_a_code_outside_its_required_binding_is_refused_with_its_path(
    client, coffre, world, resource, path
):
    headers = {**token(coffre, world, "dr.martin"), "Content-Type": FHIR_JSON}
    kind = resource["resourceType"]
    body = {**resource, "subject": {"reference": f"Patient/{world.patient_id}"}}
    before = count_rows(coffre, "clinical_entries"), len(journal_records(coffre))
    response = await client.post(f"/fhir/{kind}", headers=headers, json=body)
    assert f"The {kind} is not valid FHIR R4" in problem(response, 400, "invalid")
    assert response.json()["issue"][0]["expression"] == [path]
    assert (
        count_rows(coffre, "clinical_entries"),
        len(journal_records(coffre)),
    ) == before
    # The same with a code the binding allows is stored.
    allowed = (
        {**body, "status": "final"}
        if kind == "Observation"
        else {
            **body,
            "clinicalStatus": {"coding": [{"system": _CLINICAL, "code": "active"}]},
        }
    )
    created = await client.post(f"/fhir/{kind}", headers=headers, json=allowed)
    assert created.status_code == 201, created.text


def consent(patient_id: str, status: str) -> str:
    return json.dumps(new_consent(patient_id, status))


async def test_the_patient_withdraws_consent_and_the_physician_is_refused_at_once(
    client, coffre, world
):
    own = {**token(coffre, world, "patient.hl"), "Content-Type": FHIR_JSON}
    physician = token(coffre, world, "dr.martin")
    path = f"/fhir/Observation?patient={world.patient_id}"
    assert (await client.get(path, headers=physician)).status_code == 200
    withdrawn = await client.post(
        "/fhir/Consent", headers=own, content=consent(world.patient_id, "inactive")
    )
    assert withdrawn.status_code == 201, withdrawn.text
    assert "no-consent" in problem(await client.get(path, headers=physician), 403, "forbidden")
    again = await client.post(
        "/fhir/Consent", headers=own, content=consent(world.patient_id, "inactive")
    )
    assert again.status_code == 200
    colleague = {**token(coffre, world, "dr.bernard"), "Content-Type": FHIR_JSON}
    refused = await client.post(
        "/fhir/Consent", headers=colleague, content=consent(world.patient_id, "active")
    )
    problem(refused, 403, "forbidden")
    wrong = await client.post(
        "/fhir/Consent", headers=own, content=consent(world.patient_id, "draft")
    )
    assert "Consent.status" in problem(wrong, 400, "invalid")


async def test_the_patient_reads_back_their_choices_and_no_one_else_does(client, coffre, world):
    operator = world.operator
    records.set_exclusion(
        coffre.uow(),
        coffre.vault,
        operator,
        world.patient_id,
        "dr.bernard",
        True,
        Purpose.PATIENT_REQUEST,
    )
    records.set_mask(
        coffre.uow(),
        coffre.vault,
        operator,
        world.document_id,
        True,
        Purpose.PATIENT_REQUEST,
    )
    path = f"/fhir/Consent?patient={world.patient_id}"
    found = searchset(await client.get(path, headers=token(coffre, world, "patient.hl")))
    [consent] = [e.resource for e in found.entry]
    assert consent.status == "active" and consent.provision.type == "permit"
    denied = {
        (p.actor[0].reference.reference if p.actor else p.data[0].reference.reference)
        for p in consent.provision.provision
    }
    assert denied == {
        f"Practitioner/{world.colleague.id}",
        f"DocumentReference/{world.document_id}",
    }
    for username in ("dr.martin", "dr.bernard"):
        refused = await client.get(path, headers=token(coffre, world, username))
        said = problem(refused, 403, "forbidden")
        assert "dr.bernard" not in said and world.colleague.id not in said
    entry = journal_records(coffre)[-1]
    assert (entry.action, entry.outcome) == ("access:consent:read", "denied")


async def test_the_patient_sees_their_care_relationships(client, coffre, world):
    own = token(coffre, world, "patient.hl")
    bundle = searchset(
        await client.get(f"/fhir/EpisodeOfCare?patient={world.patient_id}", headers=own)
    )
    episodes = [e.resource for e in bundle.entry or []]
    assert world.relationship_id in [e.id for e in episodes]
    [mine] = [e for e in episodes if e.id == world.relationship_id]
    assert mine.status == "active"
    assert mine.careManager.reference == f"Practitioner/{world.physician.id}"
    stranger = token(coffre, world, "dr.bernard")
    problem(
        await client.get(f"/fhir/EpisodeOfCare?patient={world.patient_id}", headers=stranger),
        403,
        "forbidden",
    )


async def test_the_directory_shows_professionals_never_usernames_or_patients(client, coffre, world):
    headers = token(coffre, world, "patient.hl")
    found = searchset(
        await client.get(
            f"/fhir/Practitioner?organization=Organization/{world.clinic}", headers=headers
        )
    )
    names = {e.resource.name[0].text for e in found.entry or []}
    assert names == {"dr.martin", "dr.bernard", "ph.durand", "acc.petit"}  # display names
    assert world.patient_account.id not in ids(found)
    one = await client.get(f"/fhir/Practitioner/{world.physician.id}", headers=headers)
    assert one.status_code == 200
    assert "username" not in one.text
    roles = searchset(
        await client.get(
            f"/fhir/PractitionerRole?practitioner=Practitioner/{world.physician.id}",
            headers=headers,
        )
    )
    [the_role] = [e.resource for e in roles.entry or []]
    assert the_role.code[0].coding[0].code == "physician"
    clinic = await client.get(f"/fhir/Organization/{world.clinic}", headers=headers)
    assert clinic.json()["name"] == "Clinique du Parc"
    everyone = searchset(await client.get("/fhir/Organization?name=mutuelle", headers=headers))
    assert ids(everyone) == [world.insurer]
    # As FHIR's string search: neither case nor accents count.
    accented = await client.get("/fhir/Organization?name=CLINIQUE du PÂRC", headers=headers)
    assert ids(searchset(accented)) == [world.clinic]
    missing = await client.get("/fhir/Practitioner/nobody", headers=headers)
    problem(missing, 404, "not-found")
    assert (await client.get("/fhir/Organization")).status_code == 401
    narrow = token(coffre, world, "dr.martin", "user/Patient.rs")
    assert "token-scope" in problem(
        await client.get("/fhir/Organization", headers=narrow), 403, "forbidden"
    )


@pytest.mark.parametrize(
    ("path", "item"),
    [
        ("/fhir/Observation/{}", "observation"),
        ("/fhir/DocumentReference/{}", "document"),
        ("/fhir/Binary/{}", "document"),
    ],
)
async def test_an_item_one_may_not_see_and_a_missing_one_are_answered_alike(
    client, coffre, world, path, item
):
    existing = world.entry_ids[Category.RESULTS] if item == "observation" else world.document_id
    stranger = token(coffre, world, "dr.bernard")
    forbidden = await client.get(path.format(existing), headers=stranger)
    missing = await client.get(path.format(uuid.uuid4()), headers=stranger)
    assert "no-care-relationship" in problem(forbidden, 403, "forbidden")
    assert (missing.status_code, missing.json()) == (forbidden.status_code, forbidden.json())
    # Both refusals are journaled; the missing item's names no patient.
    last = journal_records(coffre)[-1]
    assert (last.outcome, last.rule, last.patient_ids) == ("denied", "no-care-relationship", ())


async def test_a_client_over_its_hourly_ceiling_is_throttled_over_http(client, coffre, world):
    lab = signin.add_client(
        coffre.uow(),
        local_operator(world.lab),
        world.lab,
        "Results feed, one call an hour",
        jwks(("k1", KEY.public_key())),
        "system/Observation.rs",
        expires_at=datetime.now(UTC) + timedelta(days=1),
        per_hour=1,
        per_day=10,
    )
    issued = signin.client_token(
        coffre.uow(), assertion(lab.id), audience=AUDIENCE, source="203.0.113.9"
    )
    headers = bearer(issued.access_token)
    search = f"/fhir/Observation?patient={world.patient_id}&category=results"
    first = await client.get(search, headers=headers)
    assert first.status_code == 200, first.text
    entries = len(journal_records(coffre))
    second = await client.get(search, headers=headers)
    assert problem(second, 429, "throttled")
    assert second.headers["retry-after"] == "3600"
    assert world.patient_id not in second.text
    last = journal_records(coffre)[entries:]
    assert [r.outcome for r in last] == ["denied"]


async def test_a_browser_session_reads_its_own_record_and_nothing_else(client, coffre, world):
    step = signin.sign_in(
        coffre.uow(),
        coffre.signin(),
        "patient.hl",
        "a long passphrase 42",
        "198.51.100.7",
        datetime.now(UTC),
    )
    client.cookies.set("__Host-coffre-session", step.token)
    try:
        own = await client.get(f"/fhir/Patient/{world.patient_id}")
        assert own.status_code == 200, own.text
        other = await client.get(f"/fhir/Patient/{uuid.uuid4()}")
        assert "patient-own-record" in problem(other, 403, "forbidden")
        signin.sign_out(coffre.uow(), step.token)
        ended = await client.get(f"/fhir/Patient/{world.patient_id}")
        assert ended.status_code == 401
    finally:
        client.cookies.clear()


@pytest.mark.parametrize(
    ("query", "accept", "status"),
    [
        ("", "application/fhir+xml", 406),
        ("", "application/xml, text/xml;q=0.9", 406),
        ("", "application/fhir+json;q=0, application/fhir+xml", 406),
        ("&_format=xml", None, 406),
        ("&_format=application/fhir+xml", "application/fhir+json", 406),
        ("", "application/fhir+json", 200),
        ("", "application/json", 200),
        ("", "application/fhir+json;q=high", 200),  # an unreadable weight counts as 1
        ("", "text/html, application/xhtml+xml, */*;q=0.8", 200),
        ("&_format=json", "application/*", 200),
    ],
)
async def test_a_format_other_than_json_is_not_acceptable(
    client, coffre, world, query, accept, status
):
    headers = token(coffre, world, "dr.martin")
    if accept is not None:
        headers["Accept"] = accept
    answer = await client.get(
        f"/fhir/Patient/{world.patient_id}?{query.lstrip('&')}", headers=headers
    )
    assert answer.status_code == status, answer.text
    if status == 406:
        assert "JSON only" in problem(answer, 406, "not-supported")
        assert world.patient_id not in answer.text  # nothing of the patient with it


async def test_a_binary_is_read_whatever_its_accept_says(client, coffre, world):
    headers = {**token(coffre, world, "dr.martin"), "Accept": "application/pdf"}
    content = await client.get(f"/fhir/Binary/{world.document_id}", headers=headers)
    assert content.status_code == 200
    assert content.content.startswith(b"%PDF-")
