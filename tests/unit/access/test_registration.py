"""Who may register a new patient: the professions that write identity and contact details,
in their own care or telemedicine organisation, for care, within their token's scopes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coffre.access import Profession, Purpose, decide_registration
from coffre.identity import Actor, ActorKind, OrganisationKind, local_operator, parse_scopes

CLINIC = "org-clinic"
# A clinic whose reception may no longer write contact details.
NO_CONTACT = """
format = "coffre-matrix/1"
[administrative]
read = ["identity", "contact"]
write = ["identity"]
"""


def staff(
    profession: str | None = "administrative",
    *,
    org_kind: OrganisationKind = OrganisationKind.CARE_PROVIDER,
    role: str = "staff",
    **kw: object,
) -> Actor:
    return Actor(
        kind=ActorKind.ACCOUNT,
        id="acc-1",
        organisation_id=CLINIC,
        role=role,
        organisation_kind=org_kind,
        profession=profession,
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    "org_kind", [OrganisationKind.CARE_PROVIDER, OrganisationKind.TELEMEDICINE_PROVIDER]
)
def test_the_reception_registers_for_care(org_kind: OrganisationKind) -> None:
    decision = decide_registration(staff(org_kind=org_kind), Purpose.CARE)
    assert (decision.allowed, decision.rule) == (True, "registration")
    assert decision.facts["profession"] == "administrative"


@given(st.sampled_from([p for p in Profession if p is not Profession.ADMINISTRATIVE]))
def test_no_clinical_profession_writes_identity_so_none_registers(profession: Profession) -> None:
    decision = decide_registration(staff(profession.value, role="practitioner"), Purpose.CARE)
    assert (decision.allowed, decision.rule) == (False, "registration-matrix")
    assert profession.value in decision.explanation


def test_an_organisation_that_narrows_its_matrix_narrows_registration() -> None:
    decision = decide_registration(staff(organisation_matrix=NO_CONTACT), Purpose.CARE)
    assert (decision.allowed, decision.rule) == (False, "registration-matrix")


@pytest.mark.parametrize(
    "actor",
    [
        staff(None, role="patient"),
        staff(None, role="data-protection-officer"),
        staff("administrative", org_kind=OrganisationKind.INSURER),
        staff("administrative", org_kind=OrganisationKind.SUBCONTRACTOR),
        local_operator(CLINIC),
    ],
    ids=["patient", "dpo", "insurer", "subcontractor", "operator"],
)
def test_no_one_else_registers(actor: Actor) -> None:
    decision = decide_registration(actor, Purpose.CARE)
    assert (decision.allowed, decision.rule) == (False, "registration-role")


@given(st.sampled_from([p for p in Purpose if p is not Purpose.CARE] + [None]))
def test_registration_is_for_care_only(purpose: Purpose | None) -> None:
    decision = decide_registration(staff(), purpose)
    assert (decision.allowed, decision.rule) == (False, "registration-purpose")


@pytest.mark.parametrize(
    ("scopes", "allowed"),
    [("user/Patient.c", True), ("user/*.cruds", True), ("user/Patient.rus", False)],
)
def test_a_token_must_allow_creating_a_patient(scopes: str, allowed: bool) -> None:
    decision = decide_registration(staff(scopes=parse_scopes(scopes)), Purpose.CARE)
    assert decision.allowed is allowed
    if not allowed:
        assert decision.rule == "token-scope" and "user/Patient.c" in decision.explanation
