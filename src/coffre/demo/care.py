"""The demo's sharing choices and care relationships, so that every access rule can be tried.

Seeded through the same services as real work (the operator, purpose `demo`): most patients
consent, clinic patients have a GP relationship with the clinic's physician or its care
team, telemedicine patients a teleconsultation, one patient excludes a professional, one
masks a document; an insurer knows its members and a lab has a contract for results.
The cases are written, with who to try them as, in the credentials file.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from coffre import identity, records
from coffre.access import Purpose, RelationshipKind
from coffre.bootstrap import Coffre
from coffre.identity import Actor

CONSENT_SHARE = 0.85


@dataclass(frozen=True)
class People:
    """Usernames the cases name."""

    clinic_physician: str
    clinic_nurse: str
    clinic_staff: str
    tele_specialist: str
    tele_pharmacist: str
    insurer_agent: str
    lab_technician: str


def case(what: str, expect: str, command: str, user: str, **ids: str) -> dict[str, object]:
    """A case to try: what it shows, what to expect, the command and whom to act as."""
    return {"case": what, "expect": expect, "try": f"coffre {command} --as {user}", **ids}


def seed_care(
    coffre: Coffre,
    operator: Actor,
    people: People,
    clinic_patients: list[str],
    tele_patients: list[str],
    documents: dict[str, str],
    *,
    insurer_id: str,
    rng: random.Random,
) -> list[dict[str, object]]:
    """Seed consents, relationships, an exclusion, a mask and memberships; return the cases
    (a description, the patient, who to act as)."""
    uow, vault, demo = coffre.uow, coffre.vault, Purpose.DEMO
    with coffre.reader() as reader:
        clinic_id = identity.find_account(reader, people.clinic_physician).organisation_id
    team_members = (people.clinic_physician, people.clinic_nurse, people.clinic_staff)
    team = records.add_care_team(uow(), operator, clinic_id, "Médecine générale", team_members)

    everyone = clinic_patients + tele_patients
    refused = {p for p in everyone if rng.random() > CONSENT_SHARE}
    # The cases below need patients who consent.
    refused -= set(clinic_patients[:4]) | set(tele_patients[:2])
    for patient_id in everyone:
        if patient_id not in refused:
            records.set_consent(uow(), vault, operator, patient_id, True, demo)
    for index, patient_id in enumerate(clinic_patients):
        if index % 3 == 0:
            records.start_relationship(
                uow(),
                vault,
                operator,
                patient_id,
                RelationshipKind.GENERAL_PRACTITIONER,
                demo,
                care_team=team,
            )
        else:
            records.start_relationship(
                uow(),
                vault,
                operator,
                patient_id,
                RelationshipKind.GENERAL_PRACTITIONER,
                demo,
                professional=people.clinic_physician,
            )
    for patient_id in tele_patients:
        records.start_relationship(
            uow(),
            vault,
            operator,
            patient_id,
            RelationshipKind.TELECONSULTATION,
            demo,
            professional=people.tele_specialist,
        )

    excluded_patient = clinic_patients[1]
    records.set_exclusion(uow(), vault, operator, excluded_patient, people.clinic_nurse, True, demo)
    masked_patient, masked_document = next(
        (p, d) for p, d in documents.items() if p in clinic_patients and p != excluded_patient
    )
    records.set_mask(uow(), vault, operator, masked_document, True, demo)

    members = [
        records.Member(
            f"MS-{index:06d}",
            patient_id,
            date(2024, 1, 1) + timedelta(days=rng.randint(0, 600)),
            None if index % 10 else date(2026, 6, 30),
        )
        for index, patient_id in enumerate(everyone[::2], start=1)
    ]
    records.enrol_members(uow(), vault, operator, insurer_id, members, demo)

    no_consent = next(iter(sorted(refused)), None)

    def record(patient: str) -> str:
        return f"care record {patient}"

    cases = [
        case(
            "consent and a GP relationship: the physician reads the whole record",
            "allowed",
            record(clinic_patients[2]),
            people.clinic_physician,
            patient_id=clinic_patients[2],
        ),
        case(
            "care team relationship: the team's nurse reads, within the nurse's matrix",
            "allowed",
            record(clinic_patients[0]),
            people.clinic_nurse,
            patient_id=clinic_patients[0],
        ),
        case(
            "administrative staff (in the care team) see identity, contact and appointments",
            "allowed",
            record(clinic_patients[0]),
            people.clinic_staff,
            patient_id=clinic_patients[0],
        ),
        case(
            "the patient excluded this nurse: 'Not allowed.', even in an emergency",
            "denied: patient-exclusion",
            record(excluded_patient),
            people.clinic_nurse,
            patient_id=excluded_patient,
        ),
        case(
            "a document masked from everyone but its author",
            "denied: masked-document",
            f"care document {masked_document} --out document.pdf",
            people.clinic_physician,
            patient_id=masked_patient,
            document_id=masked_document,
        ),
        case(
            "teleconsultation relationship (7 days) with the telemedicine specialist",
            "allowed",
            record(tele_patients[0]),
            people.tele_specialist,
            patient_id=tele_patients[0],
        ),
        case(
            "no relationship: denied, until the pharmacist breaks the glass "
            "('coffre care break-glass PATIENT --code urgent-care --reason …')",
            "denied: no-care-relationship",
            record(clinic_patients[3]),
            people.tele_pharmacist,
            patient_id=clinic_patients[3],
        ),
        case(
            "insurer: eligibility and usage figures only",
            "allowed",
            f"insurers eligibility {members[0].member_id}",
            people.insurer_agent,
            member_id=members[0].member_id,
        ),
        case(
            "lab under contract: results of the clinic's patients only",
            "allowed",
            record(clinic_patients[2]),
            people.lab_technician,
            patient_id=clinic_patients[2],
        ),
    ]
    if no_consent is not None:
        cases.append(
            case(
                "the patient did not consent: nobody reads, except in an emergency",
                "denied: no-consent",
                record(no_consent),
                people.clinic_physician,
                patient_id=no_consent,
            )
        )
    return cases
