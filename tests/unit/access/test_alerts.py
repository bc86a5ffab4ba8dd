"""Who may acknowledge or close a detection alert: the organisation's security officer or
administrator, and the local operator; nobody else."""

from __future__ import annotations

import pytest

from coffre.access import decide_alert
from coffre.identity import Actor, ActorKind, local_operator

CLINIC = "org-clinic"


def account(role: str, organisation_id: str | None = CLINIC) -> Actor:
    return Actor(kind=ActorKind.ACCOUNT, id="acc-1", organisation_id=organisation_id, role=role)


@pytest.mark.parametrize("role", ["security-officer", "organisation-admin"])
def test_the_organisations_security_officer_or_admin_handles_its_alerts(role):
    decision = decide_alert(account(role), CLINIC)
    assert decision.allowed and decision.rule == "alert-handling"
    assert decision.facts == {"actor_kind": "account", "role": role}


def test_the_local_operator_handles_any_alert():
    assert decide_alert(local_operator(), CLINIC).allowed
    assert decide_alert(local_operator(), None).allowed


@pytest.mark.parametrize(
    ("actor", "organisation_id"),
    [
        (account("practitioner"), CLINIC),  # a physician of the same organisation
        (account("security-officer", "org-other"), CLINIC),  # another organisation's officer
        (account("security-officer"), None),  # an alert of no organisation
        (account("security-officer", None), None),
        (Actor(kind=ActorKind.CLIENT, id="c-1", organisation_id=CLINIC), CLINIC),
        (Actor(kind=ActorKind.SYSTEM, id="system:watch", organisation_id=CLINIC), CLINIC),
    ],
)
def test_anyone_else_is_refused_with_the_rule(actor, organisation_id):
    decision = decide_alert(actor, organisation_id)
    assert not decision.allowed and decision.rule == "alert-handling"
    assert "security officer" in decision.explanation
