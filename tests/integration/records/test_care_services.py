"""The access policy through the records services, on SQLite and PostgreSQL: consent,
relationships, exclusions, masks, emergency access, insurers and subcontractors."""

from __future__ import annotations

import io
from datetime import date

import pytest
import sqlalchemy as sa

from careworld import PDF, World, build_world
from coffre import notify, records
from coffre.access import AccessDenied, Category, EmergencyReason, Purpose, RelationshipKind
from coffre.notify import NotificationKind, Recipient
from factories import journal_records

CARE, REQUEST = Purpose.CARE, Purpose.PATIENT_REQUEST


@pytest.fixture
def world(coffre) -> World:  # type: ignore[no-untyped-def]
    return build_world(coffre)


def read(coffre, actor, world, categories=None):  # type: ignore[no-untyped-def]
    return records.read_record(
        coffre.uow(), coffre.vault, actor, world.patient_id, CARE, categories
    )


def texts(record: records.PatientRecord) -> set[str]:
    return {e.resource["code"]["text"] for e in record.entries}


def notices(coffre, recipient_id):  # type: ignore[no-untyped-def]
    with coffre.reader() as uow:
        return notify.list_notifications(uow, recipient_id=recipient_id)


def test_the_physician_reads_all_and_the_journal_names_every_returned_id(coffre, world):
    got = read(coffre, world.physician, world)
    assert texts(got) == {"Blood pressure", "Generalised anxiety", "Amoxicillin 1 g", "HbA1c"}
    assert [d.id for d in got.documents] == [world.document_id] and not got.withheld
    last = journal_records(coffre)[-1]
    assert (last.action, last.rule) == ("records:record:read", "care-relationship")
    assert set(last.resource_ids) == {*world.entry_ids.values(), world.document_id}
    assert dict(last.facts)["relationship"] == "appointment"
    assert dict(last.facts)["consent"] == "yes"


def test_withdrawn_consent_applies_to_the_next_request(coffre, world):
    read(coffre, world.physician, world)
    records.set_consent(
        coffre.uow(), coffre.vault, world.patient_account, world.patient_id, False, REQUEST
    )
    with pytest.raises(AccessDenied, match="no-consent"):
        read(coffre, world.physician, world)
    [latest, *_] = notices(coffre, world.patient_id)
    assert latest.kind is NotificationKind.CONSENT_REVOKED and latest.params["by"] == "you"


def test_a_pharmacist_sees_the_matrix_columns_only(coffre, world):
    records.start_relationship(
        coffre.uow(), coffre.vault, world.operator, world.patient_id,
        RelationshipKind.APPOINTMENT, REQUEST, professional="ph.durand",
    )  # fmt: skip
    got = read(coffre, world.pharmacist, world)
    assert texts(got) == {"Amoxicillin 1 g"} and not got.documents
    assert "mental-health" in got.withheld and "documents" in got.withheld
    patient = records.read_patient(
        coffre.uow(), coffre.vault, world.pharmacist, world.patient_id, CARE
    )
    assert "name" in patient and "telecom" not in patient and "address" not in patient
    with pytest.raises(AccessDenied, match="profession-matrix"):
        read(coffre, world.pharmacist, world, [Category.MENTAL_HEALTH])


def test_receptionist_sees_identity_never_clinical_content(coffre, world):
    patient = records.read_patient(
        coffre.uow(), coffre.vault, world.receptionist, world.patient_id, CARE
    )
    assert "telecom" in patient
    got = read(coffre, world.receptionist, world)
    assert got.entries == [] and got.documents == []
    assert {"clinical-notes", "mental-health", "results", "documents"} <= set(got.withheld)
    with pytest.raises(AccessDenied, match="profession-matrix"):
        read(coffre, world.receptionist, world, [Category.CLINICAL_NOTES])


def test_an_ended_relationship_gives_nothing(coffre, world):
    records.end_relationship(
        coffre.uow(), coffre.vault, world.physician, world.relationship_id, CARE
    )
    with pytest.raises(AccessDenied, match="no-care-relationship"):
        read(coffre, world.physician, world)
    with pytest.raises(records.NothingToChange):
        records.end_relationship(
            coffre.uow(), coffre.vault, world.physician, world.relationship_id, CARE
        )
    assert journal_records(coffre)[-1].outcome == "failed"


def test_an_excluded_professional_is_told_only_not_allowed_even_in_an_emergency(coffre, world):
    records.set_exclusion(
        coffre.uow(),
        coffre.vault,
        world.patient_account,
        world.patient_id,
        "dr.martin",
        True,
        REQUEST,
    )
    for attempt in (
        lambda: read(coffre, world.physician, world),
        lambda: records.break_glass(
            coffre.uow(), coffre.vault, world.physician, world.patient_id,
            EmergencyReason.LIFE_THREATENING, "cardiac arrest",
        ),
    ):  # fmt: skip
        with pytest.raises(AccessDenied) as denied:
            attempt()
        assert str(denied.value) == "Not allowed."
        assert journal_records(coffre)[-1].rule == "patient-exclusion"
    records.set_exclusion(
        coffre.uow(),
        coffre.vault,
        world.patient_account,
        world.patient_id,
        "dr.martin",
        False,
        REQUEST,
    )
    assert read(coffre, world.physician, world).entries


def test_a_masked_document_is_hidden_from_all_but_its_author(coffre, world):
    own = records.add_document(
        coffre.uow(), coffre.vault, world.physician, world.patient_id, io.BytesIO(PDF),
        "application/pdf", title="Lettre", filename="l.pdf", purpose=CARE,
    )  # fmt: skip
    records.start_relationship(
        coffre.uow(), coffre.vault, world.operator, world.patient_id,
        RelationshipKind.APPOINTMENT, REQUEST, professional="dr.bernard",
    )  # fmt: skip
    for document in (own.id, world.document_id):
        records.set_mask(coffre.uow(), coffre.vault, world.patient_account, document, True, REQUEST)
    assert [d.id for d in read(coffre, world.physician, world).documents] == [own.id]
    assert read(coffre, world.colleague, world).documents == []
    with pytest.raises(AccessDenied, match="masked-document"):
        records.read_document(
            coffre.uow(), coffre.vault, world.colleague, own.id, CARE, io.BytesIO()
        )
    out = io.BytesIO()
    records.read_document(coffre.uow(), coffre.vault, world.physician, own.id, CARE, out)
    assert out.getvalue() == PDF


def test_break_the_glass_opens_a_short_access_tells_the_patient_and_the_officer(coffre, world):
    records.set_consent(
        coffre.uow(), coffre.vault, world.operator, world.patient_id, False, REQUEST
    )
    with pytest.raises(AccessDenied):
        read(coffre, world.colleague, world)
    grant = records.break_glass(
        coffre.uow(), coffre.vault, world.colleague, world.patient_id,
        EmergencyReason.PATIENT_UNCONSCIOUS, "Found unconscious; suspected diabetic coma",
    )  # fmt: skip
    assert (grant.expires_at - grant.started_at).total_seconds() == 4 * 3600
    assert read(coffre, world.colleague, world).entries
    entries = journal_records(coffre)
    assert entries[-2].action == "access:break-the-glass:create"
    assert entries[-2].purpose == "break-the-glass"
    assert entries[-1].rule == "break-the-glass"
    [patient_notice, *_] = notices(coffre, world.patient_id)
    assert patient_notice.kind is NotificationKind.BREAK_GLASS
    with coffre.reader() as uow:
        [officer] = notify.list_notifications(uow, Recipient.DATA_PROTECTION_OFFICER)
    assert officer.recipient_id == world.clinic and officer.params["grant"] == grant.id
    with coffre.engine.connect() as conn:
        dump = b"".join(
            bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode()
            for t in ("emergency_reasons", "notifications", "access_facts", "journal_entries")
            for row in conn.execute(sa.text(f"SELECT * FROM {t}"))
            for v in row
            if v is not None
        )
    assert b"diabetic" not in dump and b"unconscious;" not in dump


def test_a_reason_in_words_is_required(coffre, world):
    with pytest.raises(records.InvalidChoice):
        records.break_glass(
            coffre.uow(), coffre.vault, world.colleague, world.patient_id,
            EmergencyReason.URGENT_CARE, "   ",
        )  # fmt: skip


def test_changes_made_by_others_reach_the_patient(coffre, world):
    records.start_relationship(
        coffre.uow(), coffre.vault, world.receptionist, world.patient_id,
        RelationshipKind.APPOINTMENT, CARE, professional="dr.bernard",
    )  # fmt: skip
    [latest, *_] = notices(coffre, world.patient_id)
    assert latest.kind is NotificationKind.RELATIONSHIP_STARTED
    assert latest.params["by"] == "acc.petit" and latest.params["subject"] == "dr.bernard"
    _, body = notify.render(latest, "nl")
    assert "dr.bernard" in body and "afspraak" in body


def test_the_patient_lists_relationships_and_declares_one(coffre, world):
    records.start_relationship(
        coffre.uow(), coffre.vault, world.patient_account, world.patient_id,
        RelationshipKind.DECLARATION, REQUEST, professional="dr.bernard",
    )  # fmt: skip
    views = records.list_relationships(
        coffre.uow(), coffre.vault, world.patient_account, world.patient_id, REQUEST
    )
    assert {(v.kind, v.active) for v in views} == {("appointment", True), ("declaration", True)}
    assert read(coffre, world.colleague, world).entries


def test_the_insurer_learns_eligibility_and_usage_only(coffre, world):
    assert records.check_eligibility(
        coffre.uow(), coffre.vault, world.insurer_agent, "mt-0001"
    ).covered
    assert not records.check_eligibility(
        coffre.uow(), coffre.vault, world.insurer_agent, "MT-0001", date(2023, 12, 31)
    ).covered
    assert not records.check_eligibility(
        coffre.uow(), coffre.vault, world.insurer_agent, "MT-4242"
    ).covered
    assert journal_records(coffre)[-1].patient_ids == ()
    records.start_relationship(
        coffre.uow(), coffre.vault, world.physician, world.patient_id,
        RelationshipKind.TELECONSULTATION, CARE, professional="dr.martin",
    )  # fmt: skip
    usage = records.usage_figures(
        coffre.uow(), coffre.vault, world.insurer_agent, date(2020, 1, 1), date(2100, 1, 1)
    )
    assert usage.members == 1 and sum(usage.teleconsultations.values()) == 1
    with coffre.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT member_digest FROM memberships")).scalars().all()
    assert all(b"MT-0001" not in bytes(d) for d in stored)


def test_enrolment_refuses_duplicates_and_unknown_patients(coffre, world):
    enrol = lambda members: records.enrol_members(  # noqa: E731
        coffre.uow(), coffre.vault, world.operator, world.insurer, members
    )
    with pytest.raises(records.InvalidChoice, match="twice"):
        enrol([records.Member("mt-0001", world.patient_id, date(2025, 1, 1))])
    with pytest.raises(records.InvalidChoice, match="no patient"):
        enrol([records.Member("MT-2", "nobody", date(2025, 1, 1))])
    with pytest.raises(records.InvalidChoice):
        records.enrol_members(
            coffre.uow(), coffre.vault, world.operator, world.clinic,
            [records.Member("MT-3", world.patient_id, date(2025, 1, 1))],
        )  # fmt: skip


def test_the_lab_reaches_results_of_its_clients_patients_only(coffre, world):
    got = records.read_record(
        coffre.uow(), coffre.vault, world.lab_technician, world.patient_id, Purpose.CONTRACT
    )
    assert texts(got) == {"HbA1c"}
    entry = records.add_clinical_entry(
        coffre.uow(), coffre.vault, world.lab_technician, world.patient_id,
        {"resourceType": "Observation", "status": "final", "code": {"text": "LDL"},
         "subject": {"reference": "Patient/x"}},
        Category.RESULTS, Purpose.CONTRACT,
    )  # fmt: skip
    assert entry
    with pytest.raises(AccessDenied, match="contract-scope"):
        records.read_patient(
            coffre.uow(), coffre.vault, world.lab_technician, world.patient_id, Purpose.CONTRACT
        )


def test_an_identity_change_is_a_write_of_identity(coffre, world):
    from factories import patient

    version = records.update_patient(
        coffre.uow(), coffre.vault, world.receptionist, world.patient_id,
        patient(family="Lefèvre-Martin", email="new@example.org"), CARE,
    )  # fmt: skip
    assert version == 2
    found = records.find_patients(
        coffre.uow(), coffre.vault, world.operator, records.FindCriteria(email="new@example.org")
    )
    assert found == [world.patient_id]
    with pytest.raises(AccessDenied, match="profession-matrix"):
        records.update_patient(
            coffre.uow(), coffre.vault, world.physician, world.patient_id, patient(), CARE
        )


def test_choices_naming_nothing_real_are_refused_before_anything_is_written(coffre, world):
    before = journal_records(coffre)
    start = lambda **who: records.start_relationship(  # noqa: E731
        coffre.uow(), coffre.vault, world.operator, world.patient_id,
        RelationshipKind.APPOINTMENT, REQUEST, **who,
    )  # fmt: skip
    with pytest.raises(records.InvalidChoice, match="either"):
        start()
    with pytest.raises(records.InvalidChoice, match="not a professional"):
        start(professional="agent.mutuelle")
    with pytest.raises(records.InvalidChoice, match="no care team"):
        start(care_team="no-such-team")
    with pytest.raises(records.InvalidChoice, match="no care relationship"):
        records.end_relationship(coffre.uow(), coffre.vault, world.operator, "nope", REQUEST)
    with pytest.raises(records.DocumentNotFound):
        records.set_mask(coffre.uow(), coffre.vault, world.operator, "nope", True, REQUEST)
    with pytest.raises(records.NothingToChange):
        records.set_consent(
            coffre.uow(), coffre.vault, world.operator, world.patient_id, True, REQUEST
        )
    assert [r.outcome for r in journal_records(coffre)[len(before) :]] == ["failed"]
