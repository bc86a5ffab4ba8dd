"""The patient's Consent read, changed and sent back (`PUT /fhir/Consent/ID`): an exclusion
added shuts a professional out at once and lifting it lets them back; a masked document
leaves the others' searches; a round trip changes nothing; a provision the server does not
understand, a professional or document that is not there, a professional or a token
without `Consent.u`, and a stale `If-Match` are refused with nothing changed."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from apicalls import FHIR_JSON, bearer, ids, personal_token, problem, searchset
from careworld import World
from coffre import records
from coffre.access import Purpose
from coffre.api.consent import MAX_DENIALS
from coffre.bootstrap import Coffre
from factories import journal_records

pytestmark = pytest.mark.anyio

PRF = {
    "coding": [
        {"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "PRF"}
    ]
}


def token(coffre: Coffre, world: World, username: str, scopes: str = "user/*.cruds") -> dict:  # type: ignore[type-arg]
    return bearer(personal_token(coffre, world.clinic, username, scopes))


def excluding(practitioner_id: str) -> dict[str, Any]:
    return {
        "type": "deny",
        "actor": [{"role": PRF, "reference": {"reference": f"Practitioner/{practitioner_id}"}}],
    }


def masking(document_id: str) -> dict[str, Any]:
    return {
        "type": "deny",
        "data": [
            {"meaning": "instance", "reference": {"reference": f"DocumentReference/{document_id}"}}
        ],
    }


async def current(client, headers: dict[str, str], patient_id: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The patient's Consent, as the search answers it."""
    found = await client.get(f"/fhir/Consent?patient={patient_id}", headers=headers)
    [entry] = searchset(found).entry
    resource = found.json()["entry"][0]["resource"]
    assert resource["id"] == entry.resource.id
    return dict(resource)


async def put(client, headers: dict[str, str], consent: dict[str, Any], **extra: str):  # type: ignore[no-untyped-def]
    return await client.put(
        f"/fhir/Consent/{consent['id']}",
        headers={**headers, "Content-Type": FHIR_JSON, **extra},
        content=json.dumps(consent),
    )


def with_denials(consent: dict[str, Any], *denials: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(consent)
    changed["provision"] = {"type": "permit", **({"provision": list(denials)} if denials else {})}
    return changed


def choices(coffre: Coffre, world: World) -> records.Choices:
    return records.read_choices(
        coffre.uow(), coffre.vault, world.operator, world.patient_id, Purpose.PATIENT_REQUEST
    )


async def test_an_exclusion_sent_back_shuts_the_professional_out_until_it_is_lifted(
    client, coffre, world
):
    own = token(coffre, world, "patient.hl")
    physician = token(coffre, world, "dr.martin")
    read = f"/fhir/Patient/{world.patient_id}"
    assert (await client.get(read, headers=physician)).status_code == 200
    consent = await current(client, own, world.patient_id)
    assert (
        consent["id"] == f"sharing-{world.patient_id}" and "provision" not in consent["provision"]
    )
    before = len(journal_records(coffre))

    excluded = await put(client, own, with_denials(consent, excluding(world.physician.id)))
    assert excluded.status_code == 200, excluded.text
    assert excluded.headers["etag"] == f'W/"{excluded.json()["meta"]["versionId"]}"'
    [entry] = journal_records(coffre)[before:]
    assert (entry.action, entry.outcome, entry.rule) == (
        "access:exclusion:update",
        "success",
        "patient-own-choice",
    )
    assert entry.resource_ids == (f"professional:{world.physician.id}",)
    assert problem(await client.get(read, headers=physician), 403, "forbidden") == "Not allowed."
    shown = await current(client, own, world.patient_id)
    assert shown["provision"]["provision"] == [excluding(world.physician.id)]
    # The excluded professional cannot undo it, and is told nothing more.
    assert problem(await put(client, physician, consent), 403, "forbidden") == "Not allowed."

    lifted = await put(client, own, with_denials(shown))
    assert lifted.status_code == 200, lifted.text
    assert (await client.get(read, headers=physician)).status_code == 200
    assert choices(coffre, world) == records.Choices(True, (), ())


async def test_a_masked_document_leaves_the_others_searches(client, coffre, world):
    own = token(coffre, world, "patient.hl")
    physician = token(coffre, world, "dr.martin")
    search = f"/fhir/DocumentReference?patient={world.patient_id}"
    assert ids(searchset(await client.get(search, headers=physician))) == [world.document_id]
    consent = await current(client, own, world.patient_id)
    masked = await put(client, own, with_denials(consent, masking(world.document_id)))
    assert masked.status_code == 200, masked.text
    assert ids(searchset(await client.get(search, headers=physician))) == []
    assert journal_records(coffre)[-2].action == "access:mask:update"
    assert choices(coffre, world).masked == (world.document_id,)


async def test_a_consent_read_changed_and_sent_back_is_read_back_as_sent(client, coffre, world):
    own = token(coffre, world, "patient.hl")
    consent = await current(client, own, world.patient_id)
    changed = with_denials(consent, excluding(world.colleague.id), masking(world.document_id))
    changed["status"] = "inactive"
    before = len(journal_records(coffre))
    answered = await put(client, own, changed)
    assert answered.status_code == 200, answered.text
    stored = answered.json()
    read = await client.get(f"/fhir/Consent/{consent['id']}", headers=own)
    assert read.status_code == 200 and read.json() == stored
    assert read.headers["etag"] == answered.headers["etag"]
    assert stored == {**changed, "meta": stored["meta"]}
    assert stored["meta"] != consent["meta"]
    assert await current(client, own, world.patient_id) == stored
    # Consent withdrawn, a professional excluded and a document masked: three changes, one
    # transaction, each journaled as its own service journals it.
    kinds = [e.action for e in journal_records(coffre)[before : before + 3]]
    assert sorted(kinds) == [
        "access:consent:update",
        "access:exclusion:update",
        "access:mask:update",
    ]
    # Sent back unchanged, it changes nothing, and says so in the journal.
    again = await put(client, own, stored)
    assert again.status_code == 200 and again.json() == stored
    last = journal_records(coffre)[-1]
    assert (last.action, last.outcome, last.resource_ids) == (
        "access:consent:update",
        "failed",
        ("unchanged",),
    )


@pytest.mark.parametrize(
    ("denial", "path"),
    [
        (
            {"type": "deny", "actor": [{"role": PRF, "reference": {"reference": "Patient/x"}}]},
            "Consent.provision.provision[1].actor[0].reference",
        ),
        ({"type": "permit", "data": masking("d")["data"]}, "Consent.provision.provision[1].type"),
        (
            {**masking("d"), "period": {"start": "2026-01-01"}},
            "Consent.provision.provision[1].period",
        ),
        ({"type": "deny"}, "Consent.provision.provision[1]"),
        (
            {"type": "deny", "data": [{**masking("d")["data"][0], "meaning": "related"}]},
            "Consent.provision.provision[1].data[0].meaning",
        ),
        (excluding("no-such-professional"), "Consent.provision.provision[1].actor[0].reference"),
        (masking("no-such-document"), "Consent.provision.provision[1].data[0].reference"),
    ],
)
async def test_a_provision_not_understood_is_refused_with_its_path_and_changes_nothing(
    client, coffre, world, denial, path
):
    own = token(coffre, world, "patient.hl")
    consent = await current(client, own, world.patient_id)
    before, kept = len(journal_records(coffre)), choices(coffre, world)
    sent = with_denials(consent, excluding(world.colleague.id), denial)
    sent["status"] = "inactive"
    response = await put(client, own, sent)
    problem(response, 400, "invalid")
    assert response.json()["issue"][0]["expression"] == [path]
    assert len(journal_records(coffre)) == before + 1  # the look at the choices above
    assert choices(coffre, world) == kept


async def test_too_many_denials_at_once_are_refused_and_change_nothing(client, coffre, world):
    own = token(coffre, world, "patient.hl")
    consent = await current(client, own, world.patient_id)
    before, kept = len(journal_records(coffre)), choices(coffre, world)
    sent = with_denials(consent, *(masking(f"d{n}") for n in range(MAX_DENIALS + 1)))
    response = await put(client, own, sent)
    problem(response, 400, "too-costly")
    assert response.json()["issue"][0]["expression"] == ["Consent.provision.provision"]
    assert len(journal_records(coffre)) == before + 1  # the look at the choices above
    assert choices(coffre, world) == kept


async def test_a_patient_changes_only_their_own_consent(client, coffre, world):
    own = token(coffre, world, "patient.hl")
    consent = await current(client, own, world.patient_id)
    someone = {"reference": "Patient/someone-else"}
    elsewhere = {**consent, "id": "sharing-someone-else", "patient": someone}
    response = await put(client, own, elsewhere)
    assert "patient-own-choice" in problem(response, 403, "forbidden")
    response = await put(client, own, {**consent, "patient": someone})
    problem(response, 400, "invalid")
    assert response.json()["issue"][0]["expression"] == ["Consent.patient"]
    response = await put(client, own, {**consent, "id": "not-a-consent-of-ours"})
    problem(response, 404, "not-found")


async def test_only_the_patient_changes_their_consent(client, coffre, world):
    own = token(coffre, world, "patient.hl")
    consent = await current(client, own, world.patient_id)
    attempt = with_denials(consent, excluding(world.colleague.id))
    before = choices(coffre, world)
    for username in ("dr.martin", "acc.petit"):
        refused = await put(client, token(coffre, world, username), attempt)
        said = problem(refused, 403, "forbidden")
        assert said.startswith("Access denied by rule patient-own-choice: ")
        assert world.colleague.id not in refused.text
    assert journal_records(coffre)[-1].outcome == "denied"
    narrow = token(coffre, world, "patient.hl", "user/Consent.crs")
    said = problem(await put(client, narrow, attempt), 403, "forbidden")
    assert "token-scope" in said and "user/Consent.u" in said
    # Consent.u reaches exclusions and masks; giving or withdrawing consent is a create.
    updates_only = token(coffre, world, "patient.hl", "user/Consent.rus")
    withdrawn = {**attempt, "status": "inactive"}
    said = problem(await put(client, updates_only, withdrawn), 403, "forbidden")
    assert "user/Consent.c" in said
    assert choices(coffre, world) == before
    allowed = await put(client, updates_only, attempt)
    assert allowed.status_code == 200, allowed.text


async def test_a_change_based_on_another_version_is_refused(client, coffre, world):
    own = token(coffre, world, "patient.hl")
    consent = await current(client, own, world.patient_id)
    seen = f'W/"{consent["meta"]["versionId"]}"'
    first = await put(
        client, own, with_denials(consent, masking(world.document_id)), **{"If-Match": seen}
    )
    assert first.status_code == 200, first.text
    late = with_denials(consent, excluding(world.colleague.id))
    problem(await put(client, own, late, **{"If-Match": seen}), 412, "conflict")
    assert choices(coffre, world).excluded == ()
    fresh = await put(client, own, late, **{"If-Match": first.headers["etag"]})
    assert fresh.status_code == 200, fresh.text
