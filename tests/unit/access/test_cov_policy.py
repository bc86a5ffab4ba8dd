"""The patient's own rule: a patient account reads the access history of its own record only."""

from __future__ import annotations

import pytest

from coffre.access import Action, Purpose, decide
from coffre.identity import Actor, ActorKind

PATIENT_ID = "0b7e3c1e-1111-4222-8333-444455556666"
OTHER_ID = "9f2d7a60-aaaa-4bbb-8ccc-dddd00001111"


def _patient_account(patient_id: str | None = PATIENT_ID, **changes: object) -> Actor:
    fields: dict[str, object] = {
        "kind": ActorKind.ACCOUNT,
        "id": "account:helene",
        "role": "patient",
        "patient_id": patient_id,
        "source": "198.51.100.4",
    }
    fields.update(changes)
    return Actor(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("purpose", [*list(Purpose), None])
def test_a_patient_may_read_the_history_of_their_own_record_whatever_the_purpose(purpose):
    decision = decide(_patient_account(), Action.READ_HISTORY, purpose, PATIENT_ID)
    assert decision.allowed
    assert decision.rule == "patient-own-history"
    assert "their own record" in decision.explanation
    assert decision.facts == {
        "actor_kind": "account",
        "action": "read-history",
        "purpose": purpose.value if purpose is not None else "none",
    }


def test_a_patient_may_not_read_someone_elses_history():
    decision = decide(_patient_account(), Action.READ_HISTORY, Purpose.SUBJECT_ACCESS, OTHER_ID)
    assert not decision.allowed
    assert decision.rule == "patient-own-history"
    assert decision.explanation.endswith("of their own record only")


def test_a_history_request_naming_no_patient_is_denied_to_a_patient():
    decision = decide(_patient_account(), Action.READ_HISTORY, Purpose.SUBJECT_ACCESS, None)
    assert not decision.allowed
    assert decision.rule == "patient-own-history"


def test_a_patient_account_linked_to_no_patient_is_not_matched_by_a_missing_patient_id():
    # None == None must not count as "their own record".
    decision = decide(_patient_account(None), Action.READ_HISTORY, Purpose.SUBJECT_ACCESS, None)
    assert not decision.allowed
    assert decision.rule == "patient-own-history"


@pytest.mark.parametrize(
    "action", [a for a in Action if a not in (Action.READ_HISTORY, Action.SIGN_UP)]
)
def test_a_patient_account_is_allowed_nothing_else_even_on_their_own_record(action):
    decision = decide(_patient_account(), action, Purpose.SUBJECT_ACCESS, PATIENT_ID)
    assert not decision.allowed
    assert decision.rule == "default-deny"


@pytest.mark.parametrize(
    "actor",
    [
        _patient_account(role="practitioner"),
        _patient_account(kind=ActorKind.CLIENT),
        _patient_account(kind=ActorKind.SYSTEM),
    ],
    ids=["account-not-patient", "client-with-patient-role", "system-with-patient-role"],
)
def test_only_a_patient_account_gets_the_patient_rule(actor):
    decision = decide(actor, Action.READ_HISTORY, Purpose.SUBJECT_ACCESS, PATIENT_ID)
    assert not decision.allowed
    assert decision.rule == "default-deny"
