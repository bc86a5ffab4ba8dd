"""Who may set organisations up: the local operator anything; an organisation's
administrator its own matrix, care teams and contracts with it; nobody else."""

from __future__ import annotations

from dataclasses import replace

import pytest

from coffre.access import SetupChange, decide_setup
from coffre.identity import Actor, ActorKind, local_operator, parse_scopes

CLINIC = "org-clinic"
WITHIN = [c for c in SetupChange if c is not SetupChange.ORGANISATION]


def account(role: str, organisation_id: str | None = CLINIC) -> Actor:
    return Actor(kind=ActorKind.ACCOUNT, id="acc-1", organisation_id=organisation_id, role=role)


@pytest.mark.parametrize("change", list(SetupChange))
def test_the_local_operator_makes_any_change(change):
    decision = decide_setup(local_operator(), change, CLINIC)
    assert decision.allowed and decision.rule == "organisation-setup"
    assert decision.facts == {"actor_kind": "operator", "change": change.value}
    assert decision.explanation.startswith("the local operator may ")


@pytest.mark.parametrize("change", WITHIN)
def test_the_organisations_administrator_changes_its_own_setup(change):
    decision = decide_setup(account("organisation-admin"), change, CLINIC)
    assert decision.allowed and decision.rule == "organisation-setup"
    assert decision.facts == {
        "actor_kind": "account",
        "change": change.value,
        "role": "organisation-admin",
    }
    assert decision.explanation.startswith("the organisation's organisation-admin may ")


@pytest.mark.parametrize("organisation_id", [CLINIC, None])
def test_only_the_local_operator_adds_an_organisation(organisation_id):
    admin = account("organisation-admin")
    decision = decide_setup(admin, SetupChange.ORGANISATION, organisation_id)
    assert not decision.allowed and decision.rule == "organisation-setup"
    assert decision.explanation == "only the local operator may add organisations"
    assert decide_setup(local_operator(), SetupChange.ORGANISATION, organisation_id).allowed


@pytest.mark.parametrize("change", WITHIN)
@pytest.mark.parametrize(
    "actor",
    [
        account("practitioner"),  # a physician of the same organisation
        account("data-protection-officer"),
        account("security-officer"),
        account("organisation-admin", "org-other"),  # another organisation's administrator
        account("organisation-admin", None),
        Actor(kind=ActorKind.CLIENT, id="c-1", organisation_id=CLINIC),
        Actor(kind=ActorKind.SYSTEM, id="system:watch", organisation_id=CLINIC),
    ],
)
def test_anyone_else_is_refused_with_the_rule(actor, change):
    decision = decide_setup(actor, change, CLINIC)
    if actor.kind is ActorKind.CLIENT and change is SetupChange.TEAM_MEMBERS:
        # A change the API makes: a client's token is judged first (see below).
        assert not decision.allowed and decision.rule == "token-scope"
        return
    assert not decision.allowed and decision.rule == "organisation-setup"
    assert decision.explanation.startswith(
        "only the local operator or the organisation's administrator may "
    )
    assert "role" not in decision.facts


def test_a_change_made_through_the_api_needs_a_token_that_allows_it():
    admin = account("organisation-admin")
    narrow = replace(admin, scopes=parse_scopes("user/CareTeam.rs"))
    refused = decide_setup(narrow, SetupChange.TEAM_MEMBERS, CLINIC)
    assert not refused.allowed and refused.rule == "token-scope"
    assert "user/CareTeam.u" in refused.explanation
    allowing = replace(admin, scopes=parse_scopes("user/CareTeam.u"))
    assert decide_setup(allowing, SetupChange.TEAM_MEMBERS, CLINIC).allowed
    # A token that allows it does not make a professional an administrator.
    doctor = replace(account("practitioner"), scopes=parse_scopes("user/*.cruds"))
    assert decide_setup(doctor, SetupChange.TEAM_MEMBERS, CLINIC).rule == "organisation-setup"
    assert not decide_setup(doctor, SetupChange.TEAM_MEMBERS, CLINIC).allowed
