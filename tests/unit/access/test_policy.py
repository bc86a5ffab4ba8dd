"""The access policy, as a table: deny by default, every decision explained."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coffre.access import Action, Purpose, decide
from coffre.identity import Actor, ActorKind

OPERATOR = Actor(kind=ActorKind.OPERATOR, id="operator:me@host", organisation_id="org")

ALLOWED = {
    (Action.IMPORT, Purpose.IMPORT),
    (Action.IMPORT, Purpose.DEMO),
    (Action.FIND, Purpose.IDENTIFICATION),
    (Action.FIND, Purpose.SUBJECT_ACCESS),
    (Action.FIND, Purpose.ERASURE),
    (Action.READ, Purpose.SUBJECT_ACCESS),
    (Action.EXPORT, Purpose.SUBJECT_ACCESS),
    (Action.ERASE, Purpose.ERASURE),
    (Action.ADMINISTER_KEYS, Purpose.KEY_MANAGEMENT),
    (Action.WRITE, Purpose.DEMO),
    (Action.READ_HISTORY, Purpose.SUBJECT_ACCESS),
    (Action.EXPORT_JOURNAL, Purpose.AUDIT),
    (Action.CONTROL, Purpose.PATIENT_REQUEST),
    (Action.CONTROL, Purpose.DEMO),
    (Action.ENROL, Purpose.INSURANCE),
    (Action.ENROL, Purpose.DEMO),
}


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("purpose", [*list(Purpose), None])
def test_the_operator_is_allowed_exactly_the_listed_pairs(action, purpose):
    decision = decide(OPERATOR, action, purpose)
    assert decision.allowed == ((action, purpose) in ALLOWED or action is Action.SIGN_UP)
    assert decision.rule and decision.explanation
    assert decision.facts["action"] == action.value


@given(
    kind=st.sampled_from([k for k in ActorKind if k is not ActorKind.OPERATOR]),
    action=st.sampled_from([a for a in Action if a is not Action.SIGN_UP]),
    purpose=st.sampled_from([*list(Purpose), None]),
)
def test_no_other_kind_of_actor_is_allowed_anything_yet(kind, action, purpose):
    decision = decide(Actor(kind=kind, id="x"), action, purpose)
    assert not decision.allowed
    assert decision.rule == "default-deny"
    assert kind.value in decision.explanation


@given(kind=st.sampled_from(list(ActorKind)), purpose=st.sampled_from([*list(Purpose), None]))
def test_anyone_may_ask_for_a_sign_up_link(kind, purpose):
    decision = decide(Actor(kind=kind, id="applicant:0123"), Action.SIGN_UP, purpose)
    assert decision.allowed and decision.rule == "self-sign-up"
    assert "address the patient's record holds" in decision.explanation


def test_a_wrong_purpose_names_the_purposes_that_would_be_allowed():
    decision = decide(OPERATOR, Action.EXPORT, Purpose.CARE)
    assert not decision.allowed
    assert decision.rule == "operator-subject-access-purpose"
    assert "subject-access" in decision.explanation


def test_an_action_without_a_rule_is_denied_by_default(monkeypatch):
    from coffre.access import policy

    monkeypatch.delitem(policy._OPERATOR_RULES, Action.READ)
    decision = decide(OPERATOR, Action.READ, Purpose.SUBJECT_ACCESS)
    assert not decision.allowed
    assert decision.rule == "default-deny"


def test_who_may_manage_an_organisations_clients():
    from coffre.access import decide_client_admin

    admin = Actor(
        kind=ActorKind.ACCOUNT, id="adm", organisation_id="org", role="organisation-admin"
    )
    officer = Actor(
        kind=ActorKind.ACCOUNT, id="sec", organisation_id="org", role="security-officer"
    )
    system = Actor(kind=ActorKind.SYSTEM, id="system:coffre")
    client = Actor(
        kind=ActorKind.CLIENT, id="c-1", organisation_id="org", role="organisation-admin"
    )
    allowed = decide_client_admin(OPERATOR, "other")
    assert (allowed.allowed, allowed.rule) == (True, "client-admin")
    by_admin = decide_client_admin(admin, "org")
    assert by_admin.allowed and by_admin.facts["role"] == "organisation-admin"
    for actor, organisation in (
        (admin, "other"),
        (admin, None),
        (officer, "org"),
        (system, "org"),
        (client, "org"),
    ):
        refused = decide_client_admin(actor, organisation)
        assert (refused.allowed, refused.rule) == (False, "client-admin")
        assert refused.explanation
