"""Every kind of actor against one patient's data: who reaches what, pure decisions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coffre.access import (
    CLINICAL,
    Action,
    BreakGlass,
    Category,
    Control,
    ControlRequest,
    DataRequest,
    EmergencyReason,
    PatientFacts,
    Purpose,
    Relationship,
    RelationshipKind,
    decide_break_glass,
    decide_control,
    decide_data,
    decide_directory,
    decide_erasure,
    decide_insurer,
    decide_search,
    organisation_matrix,
    professional_of,
    readable,
)
from coffre.identity import (
    Actor,
    ActorKind,
    Contract,
    OrganisationKind,
    local_operator,
    parse_scopes,
)

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
PATIENT = "patient-1"
CLINIC, OTHER_CLINIC = "org-clinic", "org-other"


def account(
    id: str = "dr-1",
    *,
    org_kind: OrganisationKind | None = OrganisationKind.CARE_PROVIDER,
    profession: str | None = "physician",
    role: str = "practitioner",
    organisation: str = CLINIC,
    **kw: object,
) -> Actor:
    return Actor(
        kind=ActorKind.ACCOUNT,
        id=id,
        organisation_id=organisation,
        role=role,
        profession=profession,
        organisation_kind=org_kind,
        **kw,  # type: ignore[arg-type]
    )


DOCTOR = account()
NURSE = account("nurse-1", profession="nurse", care_team_ids=("team-1",))
STAFF = account("staff-1", profession="administrative", role="staff")
INSURER = account("agent-1", org_kind=OrganisationKind.INSURER, profession=None, role="agent")
LAB = account(
    "lab-1",
    org_kind=OrganisationKind.SUBCONTRACTOR,
    profession=None,
    role="subcontractor",
    organisation="org-lab",
    contracts=(Contract(CLINIC, ("results",), ("results",), NOW + timedelta(days=30)),),
)
PATIENT_ACCOUNT = account("me", org_kind=None, profession=None, role="patient", patient_id=PATIENT)
OPERATOR = local_operator(CLINIC)


def related(*relationships: Relationship, consent: bool = True, **kw: object) -> PatientFacts:
    return PatientFacts(PATIENT, consent, relationships, **kw)  # type: ignore[arg-type]


GP = Relationship(RelationshipKind.GENERAL_PRACTITIONER, NOW - timedelta(days=10), "dr-1")
TEAM = Relationship(RelationshipKind.ADMISSION, NOW - timedelta(days=1), care_team_id="team-1")


def read(*categories: Category, purpose: Purpose = Purpose.CARE, document: str | None = None):
    return DataRequest(Action.READ, purpose, frozenset(categories), document)


def decide(actor: Actor, request: DataRequest, facts: PatientFacts, org: str | None = CLINIC):
    return decide_data(actor, request, facts, NOW, patient_organisation_id=org)


class TestDecideData:
    def test_a_physician_in_care_reads_clinical_data(self):
        decision = decide(DOCTOR, read(Category.MENTAL_HEALTH), related(GP))
        assert (decision.allowed, decision.rule) == (True, "care-relationship")
        assert decision.facts["relationship"] == "general-practitioner"

    def test_a_care_team_member_reads_through_the_team(self):
        assert decide(NURSE, read(Category.RESULTS), related(TEAM)).allowed

    def test_care_reads_need_the_care_purpose(self):
        decision = decide(DOCTOR, read(Category.RESULTS, purpose=Purpose.AUDIT), related(GP))
        assert (decision.allowed, decision.rule) == (False, "care-purpose")

    def test_professionals_cannot_export_or_erase(self):
        for action in (Action.EXPORT, Action.ERASE, Action.IMPORT):
            request = DataRequest(action, Purpose.CARE, frozenset({Category.IDENTITY}))
            assert decide(DOCTOR, request, related(GP)).rule == "default-deny"

    def test_an_unknown_profession_or_a_non_care_organisation_is_nobody(self):
        odd = account(profession="astrologer")
        assert decide(odd, read(Category.IDENTITY), related(GP)).rule == "default-deny"
        nowhere = account(org_kind=None)
        assert decide(nowhere, read(Category.IDENTITY), related(GP)).rule == "default-deny"
        assert professional_of(odd) is None and professional_of(OPERATOR) is None

    def test_the_operator_follows_the_operator_rules(self):
        ok = decide(OPERATOR, read(Category.IDENTITY, purpose=Purpose.SUBJECT_ACCESS), related())
        assert ok.allowed and ok.rule == "operator-subject-access-read"
        assert not decide(OPERATOR, read(Category.IDENTITY), related(GP)).allowed

    def test_an_insurer_never_reaches_patient_data(self):
        for category in Category:
            decision = decide(INSURER, read(category), related(GP))
            assert (decision.allowed, decision.rule) == (False, "insurer-scope")

    def test_a_patient_reads_their_own_record_for_their_right_of_access_only(self):
        own = decide(PATIENT_ACCOUNT, read(*Category, purpose=Purpose.SUBJECT_ACCESS), related())
        assert (own.allowed, own.rule) == (True, "patient-own-record")
        # Not through the care path, not for another purpose, not writing, not another's.
        assert not decide(PATIENT_ACCOUNT, read(Category.IDENTITY), related()).allowed
        write = DataRequest(Action.WRITE, Purpose.SUBJECT_ACCESS, frozenset({Category.CONTACT}))
        assert not decide(PATIENT_ACCOUNT, write, related()).allowed
        other = PatientFacts("patient-2", True, ())
        refused = decide(
            PATIENT_ACCOUNT, read(Category.IDENTITY, purpose=Purpose.SUBJECT_ACCESS), other
        )
        assert (refused.allowed, refused.explanation) == (
            False,
            "a patient may read their own record only",
        )
        assert readable(PATIENT_ACCOUNT, frozenset(CLINICAL)) == CLINICAL

    def test_an_organisation_matrix_narrows_its_staff(self):
        narrowed = account(
            organisation_matrix='format = "coffre-matrix/1"\n[physician]\nread = ["identity"]\n'
        )
        assert decide(narrowed, read(Category.IDENTITY), related(GP)).allowed
        decision = decide(narrowed, read(Category.RESULTS), related(GP))
        assert (decision.allowed, decision.rule) == (False, "profession-matrix")

    def test_an_organisation_matrix_cannot_widen(self):
        wide = 'format = "coffre-matrix/1"\n[pharmacist]\nread = ["mental-health"]\n'
        assert not organisation_matrix(wide).allows(
            professional_of(account(profession="pharmacist")).profession,  # type: ignore[union-attr]
            Category.MENTAL_HEALTH,
            writing=False,
        )


class TestSubcontractors:
    def lab(self, *categories: Category, writing: bool = False, document: str | None = None):
        action = Action.WRITE if writing else Action.READ
        return DataRequest(action, Purpose.CONTRACT, frozenset(categories), document)

    def test_the_contract_scope_is_all_a_subcontractor_reaches(self):
        assert decide(LAB, self.lab(Category.RESULTS), related()).allowed
        assert decide(LAB, self.lab(Category.RESULTS, writing=True), related()).allowed
        decision = decide(LAB, self.lab(Category.RESULTS, Category.IDENTITY), related())
        assert (decision.allowed, decision.rule) == (False, "contract-scope")
        assert "identity" in decision.explanation

    def test_only_for_the_client_organisations_patients(self):
        assert not decide(LAB, self.lab(Category.RESULTS), related(), OTHER_CLINIC).allowed
        assert not decide(LAB, self.lab(Category.RESULTS), related(), None).allowed

    def test_an_ended_contract_gives_nothing(self):
        decision = decide_data(
            LAB,
            self.lab(Category.RESULTS),
            related(),
            NOW + timedelta(days=31),
            patient_organisation_id=CLINIC,
        )
        assert not decision.allowed

    def test_purpose_exclusion_and_masks_still_hold(self):
        care = DataRequest(Action.READ, Purpose.CARE, frozenset({Category.RESULTS}))
        assert decide(LAB, care, related()).rule == "contract-purpose"
        excluded = decide(LAB, self.lab(Category.RESULTS), related(excluded=frozenset({"lab-1"})))
        assert (excluded.allowed, excluded.disclosed) == (False, False)
        masked = related(masked_documents={"doc-1": "dr-1"})
        assert decide(LAB, self.lab(Category.RESULTS, document="doc-1"), masked).rule == (
            "masked-document"
        )
        own = related(masked_documents={"doc-1": "lab-1"})
        assert decide(LAB, self.lab(Category.RESULTS, document="doc-1"), own).allowed

    def test_no_category_named_is_refused(self):
        assert not decide(LAB, self.lab(), related()).allowed

    def test_other_actions_are_refused(self):
        request = DataRequest(Action.EXPORT, Purpose.CONTRACT, frozenset({Category.RESULTS}))
        assert decide(LAB, request, related()).rule == "contract-scope"


class TestReadable:
    def test_by_profession_contract_or_operator(self):
        everything = frozenset(Category)
        assert readable(account(profession="pharmacist"), everything) == {
            Category.IDENTITY,
            Category.ADMINISTRATIVE,
            Category.PRESCRIPTIONS,
        }
        assert readable(LAB, everything, patient_organisation_id=CLINIC) == {Category.RESULTS}
        assert readable(LAB, everything) == frozenset()
        assert readable(LAB, everything, True, patient_organisation_id=CLINIC) == {Category.RESULTS}
        assert readable(OPERATOR, everything) == everything
        assert readable(INSURER, everything) == frozenset()


def control(kind: Control, **kw: object) -> ControlRequest:
    return ControlRequest(kind, kw.pop("purpose", Purpose.PATIENT_REQUEST), **kw)  # type: ignore[arg-type]


class TestControls:
    def test_the_patient_makes_their_own_choices(self):
        for kind in (
            Control.CONSENT,
            Control.EXCLUSION,
            Control.MASK,
            Control.END_RELATIONSHIP,
            Control.LIST_RELATIONSHIPS,
            Control.LIST_CHOICES,
            Control.UPDATE_CHOICES,
        ):
            assert decide_control(PATIENT_ACCOUNT, control(kind), related(), NOW).allowed
        declare = control(
            Control.START_RELATIONSHIP, relationship_kind=RelationshipKind.DECLARATION
        )
        assert decide_control(PATIENT_ACCOUNT, declare, related(), NOW).allowed

    def test_a_patient_cannot_choose_for_another_or_start_other_kinds(self):
        other = PatientFacts("patient-2")
        assert not decide_control(PATIENT_ACCOUNT, control(Control.CONSENT), other, NOW).allowed
        admission = control(
            Control.START_RELATIONSHIP, relationship_kind=RelationshipKind.ADMISSION
        )
        assert not decide_control(PATIENT_ACCOUNT, admission, related(), NOW).allowed

    def test_the_operator_acts_at_the_patients_request_only(self):
        assert decide_control(OPERATOR, control(Control.CONSENT), related(), NOW).allowed
        audit = control(Control.CONSENT, purpose=Purpose.AUDIT)
        assert not decide_control(OPERATOR, audit, related(), NOW).allowed

    @pytest.mark.parametrize(
        "kind",
        [
            RelationshipKind.GENERAL_PRACTITIONER,
            RelationshipKind.APPOINTMENT,
            RelationshipKind.ADMISSION,
            RelationshipKind.TELECONSULTATION,
        ],
    )
    def test_a_professional_records_the_care_they_provide(self, kind):
        own = control(
            Control.START_RELATIONSHIP,
            purpose=Purpose.CARE,
            relationship_kind=kind,
            subject_id="dr-1",
        )
        assert decide_control(DOCTOR, own, related(), NOW).rule == "professional-care"
        for_someone_else = control(
            Control.START_RELATIONSHIP,
            purpose=Purpose.CARE,
            relationship_kind=kind,
            subject_id="dr-9",
        )
        assert not decide_control(DOCTOR, for_someone_else, related(), NOW).allowed
        team = control(
            Control.START_RELATIONSHIP,
            purpose=Purpose.CARE,
            relationship_kind=kind,
            subject_id="team-1",
        )
        assert decide_control(NURSE, team, related(), NOW).allowed

    def test_staff_book_for_colleagues_only(self):
        booking = control(
            Control.START_RELATIONSHIP,
            purpose=Purpose.CARE,
            relationship_kind=RelationshipKind.APPOINTMENT,
            subject_id="dr-1",
            colleague=True,
        )
        assert decide_control(STAFF, booking, related(), NOW).rule == "staff-booking"
        elsewhere = ControlRequest(
            Control.START_RELATIONSHIP, Purpose.CARE, RelationshipKind.APPOINTMENT, "dr-1"
        )
        assert not decide_control(STAFF, elsewhere, related(), NOW).allowed
        gp = ControlRequest(
            Control.START_RELATIONSHIP,
            Purpose.CARE,
            RelationshipKind.GENERAL_PRACTITIONER,
            "dr-1",
            colleague=True,
        )
        assert not decide_control(STAFF, gp, related(), NOW).allowed
        ending = ControlRequest(Control.END_RELATIONSHIP, Purpose.CARE, None, "dr-1", True)
        assert decide_control(STAFF, ending, related(), NOW).allowed

    def test_a_referral_needs_the_referrers_own_care(self):
        refer = ControlRequest(
            Control.START_RELATIONSHIP, Purpose.CARE, RelationshipKind.REFERRAL, "dr-9"
        )
        decision = decide_control(DOCTOR, refer, related(GP), NOW)
        assert (decision.allowed, decision.rule) == (True, "referral")
        assert not decide_control(DOCTOR, refer, related(GP, consent=False), NOW).allowed
        assert not decide_control(DOCTOR, refer, related(), NOW).allowed

    def test_professionals_do_not_make_the_patients_choices(self):
        kinds = (
            Control.CONSENT,
            Control.EXCLUSION,
            Control.MASK,
            Control.LIST_RELATIONSHIPS,
            Control.LIST_CHOICES,
            Control.UPDATE_CHOICES,
        )
        for kind in kinds:
            decision = decide_control(DOCTOR, control(kind), related(GP), NOW)
            assert (decision.allowed, decision.rule) == (False, "patient-own-choice")

    @pytest.mark.parametrize(
        ("kind", "needed"),
        [
            (Control.CONSENT, "user/Consent.c"),
            (Control.EXCLUSION, "user/Consent.u"),
            (Control.MASK, "user/Consent.u"),
            (Control.LIST_CHOICES, "user/Consent.s"),
            (Control.UPDATE_CHOICES, "user/Consent.u"),
            (Control.END_RELATIONSHIP, "user/EpisodeOfCare.u"),
            (Control.LIST_RELATIONSHIPS, "user/EpisodeOfCare.s"),
        ],
    )
    def test_a_token_must_allow_the_control(self, kind, needed):
        narrow = account(
            "me",
            org_kind=None,
            profession=None,
            role="patient",
            patient_id=PATIENT,
            scopes=parse_scopes("user/Patient.rs user/Observation.cruds"),
        )
        decision = decide_control(narrow, control(kind), related(), NOW)
        assert (decision.allowed, decision.rule) == (False, "token-scope")
        assert needed in decision.explanation
        wide = replace(narrow, scopes=parse_scopes(needed))
        assert decide_control(wide, control(kind), related(), NOW).allowed

    def test_an_excluded_professional_starts_nothing(self):
        own = ControlRequest(
            Control.START_RELATIONSHIP, Purpose.CARE, RelationshipKind.APPOINTMENT, "dr-1"
        )
        decision = decide_control(DOCTOR, own, related(excluded=frozenset({"dr-1"})), NOW)
        assert (decision.allowed, decision.disclosed) == (False, False)

    def test_nobody_else_changes_anything(self):
        for actor in (INSURER, LAB):
            assert not decide_control(actor, control(Control.CONSENT), related(), NOW).allowed


class TestBreakGlass:
    def test_clinicians_only_and_never_when_excluded(self):
        assert decide_break_glass(DOCTOR, related(consent=False)).allowed
        assert decide_break_glass(NURSE, related()).allowed
        for actor in (STAFF, INSURER, LAB, PATIENT_ACCOUNT, OPERATOR):
            assert not decide_break_glass(actor, related()).allowed
        decision = decide_break_glass(DOCTOR, related(excluded=frozenset({"dr-1"})))
        assert (decision.allowed, decision.disclosed, decision.explanation) == (
            False,
            False,
            "not allowed",
        )

    def test_a_live_grant_opens_reads_without_consent_then_expires(self):
        grant = BreakGlass("dr-2", NOW, NOW + timedelta(hours=4), EmergencyReason.URGENT_CARE)
        facts = related(consent=False, break_glass=(grant,))
        stranger = account("dr-2")
        assert decide(stranger, read(Category.RESULTS), facts).rule == "break-the-glass"
        later = decide_data(
            stranger,
            read(Category.RESULTS),
            facts,
            NOW + timedelta(hours=4),
            patient_organisation_id=CLINIC,
        )
        assert not later.allowed


class TestSearch:
    PATIENTS = frozenset({"Patient"})

    def test_who_may_search_at_all(self):
        for actor in (DOCTOR, STAFF, LAB, PATIENT_ACCOUNT):
            decision = decide_search(actor, self.PATIENTS, Purpose.CARE)
            assert (decision.allowed, decision.rule) == (True, "search-per-patient")
        assert decide_search(INSURER, self.PATIENTS, Purpose.CARE).rule == "insurer-scope"
        assert decide_search(OPERATOR, self.PATIENTS, Purpose.IDENTIFICATION).allowed
        assert not decide_search(OPERATOR, self.PATIENTS, Purpose.CARE).allowed
        system = Actor(kind=ActorKind.SYSTEM, id="system:coffre", source="local")
        assert decide_search(system, self.PATIENTS, Purpose.CARE).rule == "default-deny"

    def test_a_token_needs_the_search_scope(self):
        reader = account(scopes=parse_scopes("user/Patient.r"))
        decision = decide_search(reader, self.PATIENTS, Purpose.CARE)
        assert (decision.allowed, decision.rule) == (False, "token-scope")
        searcher = account(scopes=parse_scopes("user/Patient.rs"))
        assert decide_search(searcher, self.PATIENTS, Purpose.CARE).allowed


class TestDirectory:
    def test_members_and_clients_read_the_directory_within_their_scopes(self):
        for actor in (DOCTOR, STAFF, INSURER, LAB, PATIENT_ACCOUNT, OPERATOR):
            assert decide_directory(actor, "Practitioner").rule == "directory-read"
        system = Actor(kind=ActorKind.SYSTEM, id="system:coffre", source="local")
        assert decide_directory(system, "Organization").rule == "default-deny"
        narrow = account(scopes=parse_scopes("user/Patient.rs"))
        assert decide_directory(narrow, "Organization").rule == "token-scope"


class TestErasure:
    def test_the_operator_or_the_patients_own_dpo_erase(self):
        dpo = account("dpo-1", role="data-protection-officer", profession=None)
        allowed = decide_erasure(dpo, Purpose.ERASURE, CLINIC)
        assert (allowed.allowed, allowed.rule) == (True, "dpo-erasure")
        assert decide_erasure(OPERATOR, Purpose.ERASURE, None).allowed
        assert decide_erasure(dpo, Purpose.ERASURE, OTHER_CLINIC).rule == "erasure-role"
        assert decide_erasure(dpo, Purpose.ERASURE, None).rule == "erasure-role"
        assert decide_erasure(dpo, Purpose.CARE, CLINIC).rule == "erasure-purpose"
        assert decide_erasure(dpo, None, CLINIC).facts["purpose"] == "none"
        for actor in (DOCTOR, STAFF, INSURER, LAB, PATIENT_ACCOUNT):
            assert not decide_erasure(actor, Purpose.ERASURE, CLINIC).allowed


class TestInsurer:
    def test_an_insurer_asks_eligibility_and_usage_only(self):
        assert decide_insurer(INSURER, Action.ELIGIBILITY).rule == "insurer-eligibility"
        assert decide_insurer(INSURER, Action.USAGE).allowed
        assert not decide_insurer(INSURER, Action.READ).allowed
        for actor in (DOCTOR, LAB, PATIENT_ACCOUNT, OPERATOR):
            assert not decide_insurer(actor, Action.ELIGIBILITY).allowed


ACTORS = st.sampled_from([DOCTOR, NURSE, STAFF, INSURER, LAB, PATIENT_ACCOUNT, OPERATOR])
CATEGORY_SETS = st.frozensets(st.sampled_from(list(Category)), min_size=1)


@given(
    actor=ACTORS,
    categories=CATEGORY_SETS,
    action=st.sampled_from(list(Action)),
    purpose=st.sampled_from(list(Purpose)),
    consent=st.booleans(),
    relationship=st.sampled_from([None, GP, TEAM]),
)
def test_no_insurer_and_no_clinical_read_without_a_basis(
    actor, categories, action, purpose, consent, relationship
):
    facts = related(*([relationship] if relationship else []), consent=consent)
    decision = decide(actor, DataRequest(action, purpose, categories), facts)
    if actor is INSURER:
        assert not decision.allowed
    if decision.allowed and categories & CLINICAL and actor.kind is ActorKind.ACCOUNT:
        # A professional needs consent and a relationship; a subcontractor its contract; a
        # patient reads their own record for their right of access only.
        own = actor is PATIENT_ACCOUNT and purpose is Purpose.SUBJECT_ACCESS
        assert (consent and relationship is not None) or actor is LAB or own
        assert not own or action is Action.READ
        assert actor is not LAB or categories <= {Category.RESULTS}


def test_a_narrowed_matrix_is_remembered_and_the_memory_is_bounded(monkeypatch):
    from coffre.access import care, parse_matrix

    monkeypatch.setattr(care, "_NARROWED", {})
    monkeypatch.setattr(care, "_NARROWED_MAX", 2)
    text = 'format = "coffre-matrix/1"\n[nurse]\nread = ["identity", "mental-health"]\n'
    matrices = [parse_matrix(text) for _ in range(3)]
    first = care._within_default(matrices[0])
    assert care._within_default(matrices[0]) is first
    assert first.read[care.Profession.NURSE] == {Category.IDENTITY}  # never widened
    for matrix in matrices:
        care._within_default(matrix)
    assert len(care._NARROWED) == 2


def test_who_may_suspend_within_an_organisation():
    from coffre.access import decide_suspension

    officer = account("sec-1", role="security-officer", profession=None)
    admin = account("adm-1", role="organisation-admin", profession=None)
    system = Actor(kind=ActorKind.SYSTEM, id="system:coffre")
    for actor in (officer, admin, OPERATOR, system):
        assert decide_suspension(actor, CLINIC, Purpose.SECURITY).allowed
    assert not decide_suspension(officer, OTHER_CLINIC, Purpose.SECURITY).allowed
    assert not decide_suspension(officer, None, Purpose.SECURITY).allowed
    assert not decide_suspension(DOCTOR, CLINIC, Purpose.SECURITY).allowed
    refused = decide_suspension(OPERATOR, CLINIC, Purpose.CARE)
    assert (refused.allowed, refused.rule) == (False, "suspension-purpose")
