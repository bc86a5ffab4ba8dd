"""`coffre demo`: two organisations, their people, ~200 patients, records and documents.

Runs only in demo mode. Everything goes through the same services, decisions and journal as
real work (purpose `demo`). Login details go to $COFFRE_HOME/demo-credentials.json (0600).
"""

from __future__ import annotations

import io
import json
import os
import random
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyotp
from rich.console import Console
from rich.progress import Progress

from coffre import identity, records
from coffre.access import Purpose
from coffre.bootstrap import Coffre
from coffre.config import Environment
from coffre.crypto import SYSTEM_SECRETS_KEY, SecretBox
from coffre.demo import care, content, people
from coffre.demo.watching import seed_watch_cases
from coffre.errors import CoffreError
from coffre.identity import NewAccount, OrganisationKind, local_operator
from coffre.records import Category

CREDENTIALS_FILE = "demo-credentials.json"
CASES_FILE = "demo-cases.json"
PATIENT_ACCOUNTS = 5
# The clinic gets half the patients, and the cases (care.seed_care) name four of them.
MIN_PATIENTS = 8
MAX_PATIENTS = 100_000


class DemoRefused(CoffreError):
    """The demo cannot be seeded here."""


@dataclass(frozen=True)
class SeedSummary:
    organisations: int
    accounts: int
    patients: int
    entries: int
    documents: int
    credentials_file: Path
    cases_file: Path


def _password() -> str:
    return secrets.token_urlsafe(15)


def seed(coffre: Coffre, *, patients: int = 200, console: Console | None = None) -> SeedSummary:
    """Seed the demo; raise DemoRefused outside demo mode or when already seeded."""
    settings = coffre.settings
    if settings.environment is not Environment.DEMO:
        raise DemoRefused(
            "'coffre demo' runs only in demo mode; initialise with "
            "'coffre init --environment demo'."
        )
    credentials_path = settings.home / CREDENTIALS_FILE
    with coffre.reader() as uow:
        if identity.list_organisations(uow) or credentials_path.exists():
            raise DemoRefused(
                "This installation already holds data; the demo seeds empty ones only."
            )
    # Through the same journaled services as `coffre organisations add` and `contract`.
    organisations = [
        records.add_organisation(coffre.uow(), local_operator(), name, kind, country)
        for name, kind, country in (
            ("Clinique Saint-Roch", OrganisationKind.CARE_PROVIDER, "FR"),
            ("TéléSanté Benelux", OrganisationKind.TELEMEDICINE_PROVIDER, "BE"),
            ("Mutuelle Solidaire", OrganisationKind.INSURER, "FR"),
            ("Laboratoire BioNord", OrganisationKind.SUBCONTRACTOR, "FR"),
        )
    ]
    clinic, tele, insurer, lab = organisations
    operator = local_operator(clinic.id)
    records.add_contract(
        coffre.uow(),
        operator,
        lab.id,
        clinic.id,
        [Category.RESULTS.value],
        [Category.RESULTS.value],
        starts_at=datetime.now(UTC),
    )
    box = SecretBox(coffre.keyring.system_key(SYSTEM_SECRETS_KEY))
    rng = random.Random(2026)

    demo_people = people.patients(patients)
    half = len(demo_people) // 2
    ids: list[str] = []
    by_org: dict[str, list[str]] = {}
    document_of: dict[str, str] = {}
    family_of: dict[str, str] = {}  # for the relatives case (demo/watching.py)
    entries = documents = 0
    with Progress(console=console, disable=console is None or not console.is_terminal) as bar:
        task = bar.add_task("Seeding patients", total=len(demo_people) * 3)
        for org, group in ((clinic, demo_people[:half]), (tele, demo_people[half:])):
            texts = [json.dumps(p.resource, ensure_ascii=False) for p in group]
            report = records.import_patients(
                coffre.uow(),
                coffre.vault,
                local_operator(org.id),
                lambda t=texts: iter(t),
                org.id,
                purpose=Purpose.DEMO,
                progress=lambda n: bar.advance(task, n),
            )
            ids.extend(pid for _, pid in report.imported)
            family_of.update((pid, group[line - 1].family) for line, pid in report.imported)
            by_org[org.id] = [pid for _, pid in report.imported]
        for index, patient_id in enumerate(ids):
            for category, resource in content.clinical_entries(f"Patient/{patient_id}", rng):
                records.add_clinical_entry(
                    coffre.uow(),
                    coffre.vault,
                    operator,
                    patient_id,
                    resource,
                    Category(category),
                    Purpose.DEMO,
                )
                entries += 1
            if index % 25 == 0:
                document_of[patient_id] = records.add_document(
                    coffre.uow(),
                    coffre.vault,
                    operator,
                    patient_id,
                    io.BytesIO(content.pdf_document("Compte rendu de consultation")),
                    "application/pdf",
                    title="Compte rendu de consultation",
                    filename="compte-rendu.pdf",
                    purpose=Purpose.DEMO,
                ).id
                documents += 1
            if index % 40 == 7:
                records.add_document(
                    coffre.uow(),
                    coffre.vault,
                    operator,
                    patient_id,
                    io.BytesIO(content.png_image(96, 96, seed=index)),
                    "image/png",
                    title="Photo de lésion",
                    filename="lesion.png",
                    purpose=Purpose.DEMO,
                    category=Category.RESULTS,
                )
                documents += 1
            bar.advance(task, 1)

    credentials, new_accounts = _accounts(organisations, ids, box)
    # Through the service an organisation's administrator uses: each decided and journaled.
    account_ids = [records.add_account(coffre.uow(), operator, new) for new in new_accounts]
    for entry, account_id in zip(credentials, account_ids, strict=True):
        entry["account_id"] = account_id
    _write_private(credentials_path, json.dumps(credentials, indent=2, ensure_ascii=False) + "\n")
    cases = care.seed_care(
        coffre,
        operator,
        _people(credentials),
        by_org[clinic.id],
        by_org[tele.id],
        document_of,
        insurer_id=insurer.id,
        rng=rng,
    )
    cases += seed_watch_cases(
        coffre, operator, _people(credentials).clinic_physician, by_org[clinic.id], family_of
    )
    # Who each case acts as, and the patient's own account where they have one (to sign in
    # and see the access in their history).
    patient_accounts = {c["patient_id"]: c["username"] for c in credentials if c["patient_id"]}
    for case in cases:
        case["as"] = str(case["try"]).rsplit("--as ", 1)[1]
        if case.get("patient_id") in patient_accounts:
            case["patient_username"] = patient_accounts[case["patient_id"]]
    cases_path = settings.home / CASES_FILE
    _write_private(cases_path, json.dumps(cases, indent=2, ensure_ascii=False) + "\n")
    return SeedSummary(
        len(organisations),
        len(account_ids),
        len(ids),
        entries,
        documents,
        credentials_path,
        cases_path,
    )


def _people(credentials: list[dict[str, object]]) -> care.People:
    def first(**wanted: str) -> str:
        return str(
            next(
                c["username"] for c in credentials if all(c.get(k) == v for k, v in wanted.items())
            )
        )

    return care.People(
        clinic_physician=first(profession="physician"),
        clinic_nurse=first(profession="nurse"),
        clinic_staff=first(profession="administrative"),
        tele_specialist=first(profession="specialist"),
        tele_pharmacist=first(profession="pharmacist"),
        insurer_agent=first(role="insurer-agent"),
        lab_technician=first(role="subcontractor"),
    )


def _accounts(
    organisations: list[identity.Organisation], patient_ids: list[str], box: SecretBox
) -> tuple[list[dict[str, object]], list[NewAccount]]:
    clinic, tele, insurer, lab = organisations
    credentials: list[dict[str, object]] = []
    new: list[NewAccount] = []

    def add(
        org: identity.Organisation,
        username: str,
        role: str,
        display: str,
        *,
        profession: str | None = None,
        specialty: str | None = None,
        professional_id: str | None = None,
        mfa: bool = True,
        patient_id: str | None = None,
    ) -> None:
        password = _password()
        totp = pyotp.random_base32() if mfa else None
        sealed = box.seal(totp.encode(), f"totp:{username}") if totp else None
        new.append(
            NewAccount(
                org.id,
                username,
                password,
                role,
                display,
                profession,
                specialty,
                professional_id,
                sealed,
                patient_id,
            )
        )
        credentials.append(
            {
                "username": username,
                "password": password,
                "role": role,
                "profession": profession,
                "organisation": org.name,
                "totp_secret": totp,
                "patient_id": patient_id,
            }
        )

    for index, person in enumerate(people.practitioners()):
        org = clinic if person.country == "FR" else tele
        username = (
            f"{people.ascii_fold(person.given)[0]}.{people.ascii_fold(person.family)}".lower()
        )
        username = username.replace(" ", "").replace("'", "")
        role = "staff" if person.profession == "administrative" else "practitioner"
        add(
            org,
            f"{username}{index}",
            role,
            f"{person.given} {person.family}",
            profession=person.profession,
            specialty=person.specialty,
            professional_id=person.professional_id,
        )
    add(insurer, "agent.mutuelle", "insurer-agent", "Member services (Mutuelle Solidaire)")
    add(lab, "tech.bionord", "subcontractor", "Laboratory technician (BioNord)")
    for org, tag in ((clinic, "clinic"), (tele, "tele")):
        add(org, f"dpo.{tag}", "data-protection-officer", f"Data protection officer ({org.name})")
        add(org, f"security.{tag}", "security-officer", f"Security officer ({org.name})")
        add(org, f"admin.{tag}", "organisation-admin", f"Administrator ({org.name})")
    # Patient accounts carry no name in clear: the username is a number, like a member id.
    for number, patient_id in enumerate(patient_ids[:PATIENT_ACCOUNTS], start=1):
        org = clinic if number <= PATIENT_ACCOUNTS // 2 + 1 else tele
        add(
            org,
            f"patient{number:03d}",
            "patient",
            f"Patient account {number:03d}",
            mfa=number % 2 == 0,
            patient_id=patient_id,
        )
    return credentials, new


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
