"""Flagged records and relatives: who may flag a record (the organisation's data-protection
officer, security officer or administrator, and the local operator), and the facts every
decision on one patient's data then carries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from coffre.access import (
    Action,
    Category,
    ControlRequest,
    DataRequest,
    Flag,
    PatientFacts,
    Purpose,
    decide_break_glass,
    decide_control,
    decide_data,
    decide_flag,
)
from coffre.access.controls import Control
from coffre.access.flags import marked, marks
from coffre.access.policy import Decision
from coffre.identity import Actor, ActorKind, OrganisationKind, Scope, local_operator

CLINIC = "org-clinic"
NOW = datetime(2026, 11, 23, 10, tzinfo=UTC)


def account(role: str, organisation_id: str | None = CLINIC, **kw: object) -> Actor:
    return Actor(
        kind=ActorKind.ACCOUNT, id="acc-1", organisation_id=organisation_id, role=role, **kw
    )  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "role", ["data-protection-officer", "security-officer", "organisation-admin"]
)
@pytest.mark.parametrize("on", [True, False])
def test_the_organisations_officers_and_admin_flag_its_records(role, on):
    decision = decide_flag(account(role), Flag.VIP, on, CLINIC)
    assert decision.allowed and decision.rule == "flag-record"
    assert decision.facts == {
        "actor_kind": "account",
        "action": "flag",
        "purpose": "security",
        "changed_flag": "vip",
        "change": "set" if on else "clear",
        "role": role,
    }


def test_the_local_operator_flags_any_record_even_one_that_does_not_exist():
    assert decide_flag(local_operator(), Flag.STAFF, True, CLINIC).allowed
    assert decide_flag(local_operator(), Flag.STAFF, False, None).allowed


@pytest.mark.parametrize(
    ("actor", "organisation_id"),
    [
        (account("practitioner", profession="physician"), CLINIC),  # a clinician of the clinic
        (account("staff", profession="administrative"), CLINIC),  # its reception
        (account("data-protection-officer", "org-other"), CLINIC),  # another organisation's
        (account("security-officer"), None),  # no such patient
        (account("patient", patient_id="p-1"), CLINIC),  # the patient themselves
        (  # a client whose token would allow it: still no role
            Actor(
                kind=ActorKind.CLIENT,
                id="c-1",
                organisation_id=CLINIC,
                scopes=(Scope("system", "Patient", "u"),),
            ),
            CLINIC,
        ),
        (Actor(kind=ActorKind.SYSTEM, id="system:watch", organisation_id=CLINIC), CLINIC),
    ],
)
def test_anyone_else_is_refused_with_the_rule(actor, organisation_id):
    decision = decide_flag(actor, Flag.VIP, True, organisation_id)
    assert not decision.allowed and decision.rule == "flag-record"
    assert "data-protection officer" in decision.explanation
    assert "role" not in decision.facts


def test_an_officer_acting_through_a_token_needs_it_to_allow_updating_a_patient():
    reading = account("data-protection-officer", scopes=(Scope("user", "Patient", "r"),))
    refused = decide_flag(reading, Flag.VIP, True, CLINIC)
    assert not refused.allowed and refused.rule != "flag-record"
    writing = account("data-protection-officer", scopes=(Scope("user", "Patient", "u"),))
    assert decide_flag(writing, Flag.VIP, True, CLINIC).allowed


@pytest.mark.parametrize(
    ("flags", "shared", "expected"),
    [
        ((), frozenset(), {}),
        (("vip",), frozenset(), {"flag": "vip"}),
        (("vip", "staff"), frozenset(), {"flag": "vip,staff"}),
        ((), frozenset({"family"}), {"same_family": "true"}),
        ((), frozenset({"address"}), {"same_address": "true"}),
        (
            ("staff",),
            frozenset({"family", "address"}),
            {"flag": "staff", "same_family": "true", "same_address": "true"},
        ),
    ],
)
def test_the_marks_are_the_flags_and_what_the_actor_shares(flags, shared, expected):
    facts = PatientFacts("p-1", flags=flags, shared_with_actor=shared)
    assert marks(facts) == expected
    decision = Decision(True, "r", "why", {"profession": "nurse"})
    assert marked(decision, facts).facts == {"profession": "nurse", **expected}
    if not expected:
        assert marked(decision, facts) is decision


def physician(**kw: object) -> Actor:
    return Actor(
        kind=ActorKind.ACCOUNT,
        id="dr-1",
        organisation_id=CLINIC,
        role="practitioner",
        profession="physician",
        organisation_kind=OrganisationKind.CARE_PROVIDER,
        **kw,
    )  # type: ignore[arg-type]


FLAGGED = PatientFacts("p-1", flags=("vip",), shared_with_actor=frozenset({"address"}))
BARE = PatientFacts("p-1")


@pytest.mark.parametrize(
    "decide",
    [
        lambda facts: decide_data(
            physician(),
            DataRequest(Action.READ, Purpose.CARE, frozenset({Category.CLINICAL_NOTES})),
            facts,
            NOW,
            patient_organisation_id=None,
        ),
        lambda facts: decide_data(
            local_operator(),
            DataRequest(Action.READ, Purpose.SUBJECT_ACCESS),
            facts,
            NOW,
            patient_organisation_id=None,
        ),
        lambda facts: decide_break_glass(physician(), facts),
        lambda facts: decide_control(
            physician(), ControlRequest(Control.LIST_RELATIONSHIPS, Purpose.CARE), facts, NOW
        ),
    ],
    ids=["care-denied", "operator-allowed", "break-glass", "control"],
)
def test_every_decision_on_one_patient_carries_the_marks_allowed_or_not(decide):
    flagged, bare = decide(FLAGGED), decide(BARE)
    assert flagged.facts == {**bare.facts, "flag": "vip", "same_address": "true"}
    assert (flagged.allowed, flagged.rule) == (bare.allowed, bare.rule)
    assert not {"flag", "same_family", "same_address"} & bare.facts.keys()
