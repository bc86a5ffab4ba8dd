"""`PUT /fhir/CareTeam/ID`: an organisation's administrator replaces a care team's members
with a token that allows it; a member left out no longer reads the team's patients; anyone
else is refused, and every attempt is journaled."""

from __future__ import annotations

from typing import Any

import pytest

from apicalls import FHIR_JSON, bearer, personal_token, problem
from careworld import account
from coffre import identity, records
from coffre.access import Purpose, RelationshipKind
from factories import journal_records

pytestmark = pytest.mark.anyio


@pytest.fixture
def team_id(coffre, world) -> str:  # type: ignore[no-untyped-def]
    """A team of the clinic with dr.bernard (no relationship of his own with the patient),
    which has the patient in its care."""
    team = records.add_care_team(
        coffre.uow(), world.operator, world.clinic, "Soins", ["dr.bernard"]
    )
    records.start_relationship(
        coffre.uow(),
        coffre.vault,
        world.operator,
        world.patient_id,
        RelationshipKind.ADMISSION,
        Purpose.PATIENT_REQUEST,
        care_team=team,
    )
    return team


def _team(team_id: str, *members: str) -> dict[str, Any]:
    return {
        "resourceType": "CareTeam",
        "id": team_id,
        "participant": [{"member": {"reference": f"Practitioner/{m}"}} for m in members],
    }


@pytest.fixture
def admin_token(coffre, world) -> str:  # type: ignore[no-untyped-def]
    account(coffre, world.clinic, "admin.parc", "organisation-admin")
    return personal_token(coffre, world.clinic, "admin.parc", "user/CareTeam.rus")


async def test_the_administrator_replaces_the_members_and_the_one_left_out_loses_the_patient(
    client, coffre, world, team_id, admin_token
):
    colleague = personal_token(coffre, world.clinic, "dr.bernard", "user/Patient.rs")
    read = f"/fhir/Patient/{world.patient_id}"
    assert (await client.get(read, headers=bearer(colleague))).status_code == 200
    before = len(journal_records(coffre))

    answer = await client.put(
        f"/fhir/CareTeam/{team_id}",
        json=_team(team_id, world.physician.id),
        headers={**bearer(admin_token), "Content-Type": FHIR_JSON},
    )
    assert answer.status_code == 200, answer.text
    members = [p["member"]["reference"] for p in answer.json()["participant"]]
    assert members == [f"Practitioner/{world.physician.id}"]
    [entry] = journal_records(coffre)[before:]
    assert (entry.action, entry.decision, entry.outcome) == (
        "identity:team:update",
        "allow",
        "success",
    )
    facts = dict(entry.facts)
    assert (facts["added"], facts["removed"]) == (world.physician.id, world.colleague.id)

    # Who the colleague is is kept a few seconds per token: a new token sees the change.
    fresh = personal_token(coffre, world.clinic, "dr.bernard", "user/Patient.rs")
    problem(await client.get(read, headers=bearer(fresh)), 403, "forbidden")

    # The same members again: nothing changes, and the update is journaled all the same.
    again = await client.put(
        f"/fhir/CareTeam/{team_id}",
        json=_team(team_id, world.physician.id),
        headers={**bearer(admin_token), "Content-Type": FHIR_JSON},
    )
    assert again.status_code == 200
    assert dict(journal_records(coffre)[-1].facts)["added"] == "none"


@pytest.mark.parametrize(
    ("who", "scopes", "rule"),
    [
        ("admin.parc", "user/CareTeam.rs", "token-scope"),
        ("dr.martin", "user/*.cruds", "organisation-setup"),
    ],
)
async def test_anyone_else_is_refused_and_the_refusal_is_journaled(
    client, coffre, world, team_id, who, scopes, rule
):
    if who == "admin.parc":
        account(coffre, world.clinic, who, "organisation-admin")
    secret = personal_token(coffre, world.clinic, who, scopes)
    before = len(journal_records(coffre))
    answer = await client.put(
        f"/fhir/CareTeam/{team_id}",
        json=_team(team_id, world.physician.id),
        headers={**bearer(secret), "Content-Type": FHIR_JSON},
    )
    assert rule in problem(answer, 403, "forbidden")
    [entry] = journal_records(coffre)[before:]
    assert (entry.action, entry.outcome, entry.rule) == ("identity:team:update", "denied", rule)
    with coffre.reader() as uow:
        [team] = identity.list_care_teams(uow, team_id=team_id)
    assert team.member_ids == (world.colleague.id,)


@pytest.mark.parametrize(
    ("body", "status", "code", "where"),
    [
        (
            lambda t: {**_team(t), "participant": [{"member": {"reference": "Patient/x"}}]},
            400,
            "invalid",
            "participant[0]",
        ),
        (lambda t: _team("other-id"), 400, "invalid", "must be the id in the URL"),
        (lambda t: {**_team(t), "resourceType": "Patient"}, 400, "invalid", "CareTeam"),
        (lambda t: _team(t, "no-such-account"), 400, "processing", "no account"),
    ],
)
async def test_a_bad_update_is_refused_and_changes_nothing(
    client, coffre, world, team_id, admin_token, body, status, code, where
):
    answer = await client.put(
        f"/fhir/CareTeam/{team_id}",
        json=body(team_id),
        headers={**bearer(admin_token), "Content-Type": FHIR_JSON},
    )
    assert where in problem(answer, status, code) + answer.text
    with coffre.reader() as uow:
        [team] = identity.list_care_teams(uow, team_id=team_id)
    assert team.member_ids == (world.colleague.id,)


async def test_no_such_team_is_404(client, world, admin_token):
    answer = await client.put(
        "/fhir/CareTeam/no-such-team",
        json=_team("no-such-team"),
        headers={**bearer(admin_token), "Content-Type": FHIR_JSON},
    )
    problem(answer, 404, "not-found")
