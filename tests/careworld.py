"""A small world of care for service tests: a clinic with a physician, a pharmacist, a
receptionist and a second physician; an insurer with an account; a lab (subcontractor) with
a contract; one patient with entries of several categories and a document."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, date, datetime

from coffre import identity, records
from coffre.access import Category, Purpose, RelationshipKind
from coffre.bootstrap import Coffre
from coffre.identity import Actor, NewAccount, OrganisationKind, local_operator
from factories import lines_of, patient

PDF = b"%PDF-1.4\n% a consultation report\n"

ENTRIES = {
    Category.CLINICAL_NOTES: {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "Blood pressure"},
        "subject": {"reference": "Patient/x"},
        "valueString": "128/82",
    },
    Category.MENTAL_HEALTH: {
        "resourceType": "Condition",
        "subject": {"reference": "Patient/x"},
        "code": {"text": "Generalised anxiety"},
    },
    Category.PRESCRIPTIONS: {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "Amoxicillin 1 g"},
        "subject": {"reference": "Patient/x"},
        "valueString": "3 times a day, 7 days",
    },
    Category.RESULTS: {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "HbA1c"},
        "subject": {"reference": "Patient/x"},
        "valueString": "6.1 %",
    },
}


@dataclass
class World:
    clinic: str
    insurer: str
    lab: str
    operator: Actor
    physician: Actor
    colleague: Actor  # a second physician of the clinic, with no relationship
    pharmacist: Actor
    receptionist: Actor
    insurer_agent: Actor
    lab_technician: Actor
    patient_account: Actor
    patient_id: str
    document_id: str
    entry_ids: dict[Category, str]
    relationship_id: str


def account(
    coffre: Coffre, org: str, username: str, role: str, profession: str | None = None, **kw: str
) -> Actor:
    with coffre.uow() as uow:
        identity.create_accounts(
            uow,
            [NewAccount(org, username, "a long passphrase 42", role, username, profession, **kw)],
        )
        uow.commit()
    with coffre.reader() as uow:
        return identity.actor_for(uow, username, source="test")


def build_world(coffre: Coffre, *, consent: bool = True) -> World:
    with coffre.uow() as uow:
        clinic = identity.create_organisation(
            uow, "Clinique du Parc", OrganisationKind.CARE_PROVIDER, "FR"
        ).id
        insurer = identity.create_organisation(
            uow, "Mutuelle des Tilleuls", OrganisationKind.INSURER, "FR"
        ).id
        lab = identity.create_organisation(
            uow, "Laboratoire Pasteur", OrganisationKind.SUBCONTRACTOR, "FR"
        ).id
        identity.add_contract(
            uow,
            lab,
            clinic,
            [Category.RESULTS.value],
            [Category.RESULTS.value],
            starts_at=datetime(2020, 1, 1, tzinfo=UTC),
        )
        uow.commit()
    operator = local_operator(clinic)
    physician = account(coffre, clinic, "dr.martin", "practitioner", "physician")
    colleague = account(coffre, clinic, "dr.bernard", "practitioner", "physician")
    pharmacist = account(coffre, clinic, "ph.durand", "practitioner", "pharmacist")
    receptionist = account(coffre, clinic, "acc.petit", "staff", "administrative")
    insurer_agent = account(coffre, insurer, "agent.mutuelle", "insurer-agent")
    lab_technician = account(coffre, lab, "tech.labo", "subcontractor")
    [(_, patient_id)] = records.import_patients(
        coffre.uow(), coffre.vault, operator, lines_of([patient()]), clinic
    ).imported
    patient_account = account(coffre, clinic, "patient.hl", "patient", patient_id=patient_id)
    entry_ids = {
        category: records.add_clinical_entry(
            coffre.uow(), coffre.vault, operator, patient_id, resource, category, Purpose.DEMO
        )
        for category, resource in ENTRIES.items()
    }
    document_id = records.add_document(
        coffre.uow(),
        coffre.vault,
        operator,
        patient_id,
        io.BytesIO(PDF),
        "application/pdf",
        title="Compte rendu",
        filename="cr.pdf",
        purpose=Purpose.DEMO,
    ).id
    if consent:
        records.set_consent(
            coffre.uow(), coffre.vault, operator, patient_id, True, Purpose.PATIENT_REQUEST
        )
    relationship_id = records.start_relationship(
        coffre.uow(),
        coffre.vault,
        physician,
        patient_id,
        RelationshipKind.APPOINTMENT,
        Purpose.CARE,
        professional="dr.martin",
    )
    records.start_relationship(
        coffre.uow(),
        coffre.vault,
        operator,
        patient_id,
        RelationshipKind.APPOINTMENT,
        Purpose.DEMO,
        professional="acc.petit",
    )
    records.enrol_members(
        coffre.uow(),
        coffre.vault,
        operator,
        insurer,
        [records.Member("MT-0001", patient_id, date(2024, 1, 1))],
    )
    return World(
        clinic,
        insurer,
        lab,
        operator,
        physician,
        colleague,
        pharmacist,
        receptionist,
        insurer_agent,
        lab_technician,
        patient_account,
        patient_id,
        document_id,
        entry_ids,
        relationship_id,
    )


def more_in_care(coffre: Coffre, world: World, count: int) -> list[str]:
    """Import `count` more patients of the clinic, each consenting and with an appointment
    with the physician; return the world's patient and theirs."""
    report = records.import_patients(
        coffre.uow(),
        coffre.vault,
        world.operator,
        lines_of([patient() for _ in range(count)]),
        world.clinic,
    )
    ids = [patient_id for _, patient_id in report.imported]
    for patient_id in ids:
        records.set_consent(
            coffre.uow(), coffre.vault, world.operator, patient_id, True, Purpose.PATIENT_REQUEST
        )
        records.start_relationship(
            coffre.uow(),
            coffre.vault,
            world.physician,
            patient_id,
            RelationshipKind.APPOINTMENT,
            Purpose.CARE,
            professional="dr.martin",
        )
    return [world.patient_id, *ids]
