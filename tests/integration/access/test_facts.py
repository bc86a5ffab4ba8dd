"""The facts of access decisions, stored and read back on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from coffre import access
from coffre.access import (
    CareRequest,
    Category,
    EmergencyReason,
    FactNotFound,
    Profession,
    Professional,
    RelationshipKind,
    decide_care,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
DOCTOR = Professional("account-doctor", Profession.PHYSICIAN, frozenset({"team-ward"}))
NURSE = Professional("account-nurse", Profession.NURSE)
PATIENT = "patient-1"


def _load(coffre, now):  # type: ignore[no-untyped-def]
    with coffre.reader() as uow:
        return access.load_patient_facts(uow, PATIENT, now)


def _reads(who: Professional, *categories: Category, document: str | None = None) -> CareRequest:
    return CareRequest(
        who, frozenset(categories or {Category.CLINICAL_NOTES}), document_id=document
    )


def test_no_facts_means_no_access(coffre):
    facts = _load(coffre, T0)
    assert facts == access.PatientFacts(PATIENT)
    assert decide_care(_reads(DOCTOR), facts, T0).rule == "no-care-relationship"


def test_consent_and_a_relationship_open_the_record_and_revoking_closes_it(coffre):
    with coffre.uow() as uow:
        access.record_consent(uow, PATIENT, True, T0)
        access.start_relationship(
            uow, PATIENT, RelationshipKind.TELECONSULTATION, T0, professional_id=DOCTOR.account_id
        )
        uow.commit()
    assert decide_care(_reads(DOCTOR), _load(coffre, T0 + HOUR), T0 + HOUR).allowed
    assert not decide_care(_reads(DOCTOR), _load(coffre, T0 + 8 * DAY), T0 + 8 * DAY).allowed
    with coffre.uow() as uow:
        access.record_consent(uow, PATIENT, False, T0 + 2 * HOUR)
        uow.commit()
    after = _load(coffre, T0 + 3 * HOUR)
    assert not after.consent
    assert decide_care(_reads(DOCTOR), after, T0 + 3 * HOUR).rule == "no-consent"
    # The history is kept: before the revocation, consent was in force.
    assert _load(coffre, T0 + HOUR).consent


def test_a_care_teams_admission_lasts_until_discharge_plus_thirty_days(coffre):
    with coffre.uow() as uow:
        access.record_consent(uow, PATIENT, True, T0)
        stay = access.start_relationship(
            uow, PATIENT, RelationshipKind.ADMISSION, T0, care_team_id="team-ward"
        )
        uow.commit()
    assert decide_care(_reads(DOCTOR), _load(coffre, T0 + 100 * DAY), T0 + 100 * DAY).allowed
    with coffre.uow() as uow:
        access.end_relationship(uow, stay, T0 + 10 * DAY)
        uow.commit()
    later = T0 + 39 * DAY
    assert decide_care(_reads(DOCTOR), _load(coffre, later), later).allowed
    assert not decide_care(_reads(DOCTOR), _load(coffre, later + DAY), later + DAY).allowed
    with coffre.uow() as uow, pytest.raises(FactNotFound):
        access.end_relationship(uow, stay, T0 + 11 * DAY)


def test_exclusion_masking_and_break_the_glass_round_trip(coffre):
    with coffre.uow() as uow:
        access.record_consent(uow, PATIENT, True, T0)
        access.start_relationship(
            uow,
            PATIENT,
            RelationshipKind.GENERAL_PRACTITIONER,
            T0,
            professional_id=NURSE.account_id,
        )
        access.record_exclusion(uow, PATIENT, DOCTOR.account_id, True, T0)
        access.record_mask(uow, PATIENT, "doc-1", "account-author", True, T0)
        grant = access.record_break_glass(
            uow, PATIENT, DOCTOR.account_id, EmergencyReason.PATIENT_UNCONSCIOUS, T0, 4 * HOUR
        )
        uow.commit()
    facts = _load(coffre, T0 + HOUR)
    assert facts.excluded == frozenset({DOCTOR.account_id})
    assert facts.masked_documents == {"doc-1": "account-author"}
    assert facts.break_glass == (grant,)
    excluded = decide_care(_reads(DOCTOR), facts, T0 + HOUR)
    assert (excluded.allowed, excluded.disclosed) == (False, False)  # even with the glass
    masked = decide_care(_reads(NURSE, Category.DOCUMENTS, document="doc-1"), facts, T0 + HOUR)
    assert masked.rule == "masked-document"
    with coffre.uow() as uow:
        access.record_exclusion(uow, PATIENT, DOCTOR.account_id, False, T0 + 2 * HOUR)
        access.record_mask(uow, PATIENT, "doc-1", "account-author", False, T0 + 2 * HOUR)
        uow.commit()
    facts = _load(coffre, T0 + 3 * HOUR)
    assert facts.excluded == frozenset() and facts.masked_documents == {}
    glass = decide_care(_reads(DOCTOR), facts, T0 + 3 * HOUR)
    assert (glass.allowed, glass.rule) == (True, "break-the-glass")
    assert not decide_care(_reads(DOCTOR), facts, T0 + 5 * HOUR).allowed


def test_a_relationship_names_one_professional_or_one_team(coffre):
    with coffre.uow() as uow, pytest.raises(access.AccessError):
        access.start_relationship(uow, PATIENT, RelationshipKind.REFERRAL, T0)


def test_the_facts_of_a_patient_are_read_in_one_query(coffre):
    with coffre.uow() as uow:
        access.record_consent(uow, PATIENT, True, T0)
        for n in range(5):
            access.start_relationship(
                uow, PATIENT, RelationshipKind.APPOINTMENT, T0, professional_id=f"account-{n}"
            )
        access.record_mask(uow, PATIENT, "doc-2", None, True, T0)
        uow.commit()
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_rest):  # type: ignore[no-untyped-def]
        statements.append(statement)

    sa.event.listen(coffre.engine, "before_cursor_execute", seen)
    try:
        with coffre.reader() as uow:
            facts = access.load_patient_facts(uow, PATIENT, T0 + HOUR)
    finally:
        sa.event.remove(coffre.engine, "before_cursor_execute", seen)
    assert len(facts.relationships) == 5
    assert [s for s in statements if "access_facts" in s] == statements[-1:]
