"""`coffre care`, `coffre insurers` and the new `coffre organisations` commands, as an
operator runs them on a demo installation (real processes; `--as` acts as demo accounts).

One demo seed per module. The patients the tests change are imported here, each test with
its own, so that what the demo seed itself records (consents, relationships…) never matters.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from clihelpers import assert_one_sentence_error, ok, run
from coffre import identity, records
from coffre.access import Purpose
from coffre.bootstrap import Coffre, open_coffre
from coffre.cli.acting import parse_day
from coffre.cli.patients import UsageError
from coffre.config import load_settings
from coffre.demo.content import pdf_document
from coffre.identity import NewAccount, OrganisationKind, local_operator
from coffre.records import Category
from factories import lines_of, patient

PATIENTS = ("consent", "choices", "glass", "insured", "lapsed")


@dataclass(frozen=True)
class World:
    home: Path
    clinic: str  # organisation id
    physician: str  # username of the demo physician
    stranger: str  # username of a physician with no relationship to anyone
    patients: dict[str, str]  # name in PATIENTS -> patient id
    documents: dict[str, str]  # name in PATIENTS -> id of its document


def _open(home: Path) -> Coffre:
    return open_coffre(load_settings(home, env={}))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    home = tmp_path_factory.mktemp("care") / "home"
    ok(run(home, "init", "--environment", "demo"))
    ok(run(home, "demo", "--patients", "20"))
    credentials = json.loads((home / "demo-credentials.json").read_text())
    physician = next(c["username"] for c in credentials if c["profession"] == "physician")
    coffre = _open(home)
    try:
        with coffre.reader() as uow:
            clinic = next(
                o.id
                for o in identity.list_organisations(uow)
                if o.kind is OrganisationKind.CARE_PROVIDER
            )
        operator = local_operator(clinic)
        people = [
            patient(family=f"Care{name.capitalize()}", given="Lina", email=f"{name}@example.org")
            for name in PATIENTS
        ]
        report = records.import_patients(
            coffre.uow(), coffre.vault, operator, lines_of(people), clinic
        )
        ids = dict(zip(PATIENTS, (pid for _, pid in sorted(report.imported)), strict=True))
        documents = {}
        for name, patient_id in ids.items():
            weight = {
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": "Body weight"},
                "subject": {"reference": f"Patient/{patient_id}"},
                "valueQuantity": {"value": 61.5, "unit": "kg"},
            }
            records.add_clinical_entry(
                coffre.uow(),
                coffre.vault,
                operator,
                patient_id,
                weight,
                Category.CLINICAL_NOTES,
                Purpose.DEMO,
            )
            documents[name] = records.add_document(
                coffre.uow(),
                coffre.vault,
                operator,
                patient_id,
                io.BytesIO(pdf_document("Compte rendu de test")),
                "application/pdf",
                title="Compte rendu de test",
                filename="compte-rendu.pdf",
                purpose=Purpose.DEMO,
            ).id
        with coffre.uow() as uow:
            identity.create_accounts(
                uow,
                [
                    NewAccount(
                        clinic,
                        "dr.urgences",
                        "not-used-in-these-tests",
                        "practitioner",
                        "Dr Urgences",
                        profession="physician",
                    )
                ],
            )
            uow.commit()
    finally:
        coffre.close()
    return World(home, clinic, physician, "dr.urgences", ids, documents)


def test_a_physician_reads_with_consent_and_is_refused_once_it_is_withdrawn(world: World):
    home, patient_id = world.home, world.patients["consent"]
    assert ok(run(home, "care", "consent", patient_id, "--grant")).strip() == "Consent given."
    relationship = ok(
        run(
            home,
            "care",
            "relate",
            patient_id,
            "--kind",
            "general-practitioner",
            "--professional",
            world.physician,
        )
    ).strip()
    listed = ok(run(home, "care", "relationships", patient_id))
    assert relationship in listed and "general-practitioner" in listed and "yes" in listed

    shown = ok(run(home, "care", "record", patient_id, "--as", world.physician))
    assert "Patient: Lina CareConsent" in shown and "Born: 1985-05-12" in shown
    assert "consent@example.org" in shown  # a physician's matrix reaches contact details
    assert "Body weight" in shown and "Observation" in shown
    assert world.documents["consent"] in shown and "Compte rendu de test" in shown
    assert "Withheld" not in shown

    assert ok(run(home, "care", "consent", patient_id, "--revoke")).strip() == "Consent withdrawn."
    refused = run(home, "care", "record", patient_id, "--as", world.physician)
    message = assert_one_sentence_error(refused, code=3)
    assert message.startswith("Error: Access denied by rule no-consent")
    assert "CareConsent" not in refused.stdout + refused.stderr

    # The patient is told of both changes, here in French.
    told = ok(run(home, "care", "notifications", "--patient", patient_id, "--language", "fr"))
    assert "consent-granted" in told and "consent-revoked" in told
    assert "Votre consentement au partage a été donné" in told
    assert "Votre consentement au partage a été retiré" in told
    assert "Your consent" not in told


def test_as_is_refused_outside_demo_mode(world: World, tmp_path: Path):
    home = tmp_path / "development"
    shutil.copytree(world.home, home)
    config = home / "config.toml"
    config.write_text(config.read_text().replace('"demo"', '"development"'))
    refused = run(home, "care", "record", world.patients["consent"], "--as", world.physician)
    message = assert_one_sentence_error(refused, code=2)
    assert message == "Error: --as works only in demo mode: a real person signs in."


def test_as_refuses_a_suspended_account_until_it_is_resumed(world: World, tmp_path: Path):
    home = tmp_path / "suspended"
    shutil.copytree(world.home, home)
    patient_id = world.patients["glass"]
    glass = ("care", "break-glass", patient_id, "--code", "patient-unconscious", "--reason", "x")
    ok(run(home, *glass, "--as", world.stranger))
    ok(run(home, "accounts", "suspend", world.stranger, "--reason", "audit"))
    for command in (("care", "record", patient_id), glass):
        refused = run(home, *command, "--as", world.stranger)
        message = assert_one_sentence_error(refused, code=4)
        assert message.startswith(f"Error: The account '{world.stranger}' is suspended")
        assert "CareGlass" not in refused.stdout + refused.stderr
    ok(run(home, "accounts", "resume", world.stranger))
    assert "CareGlass" in ok(run(home, "care", "record", patient_id, "--as", world.stranger))


def test_a_mask_hides_a_document_and_an_exclusion_shuts_a_physician_out(
    world: World, tmp_path: Path
):
    home, patient_id = world.home, world.patients["choices"]
    document_id = world.documents["choices"]
    ok(run(home, "care", "consent", patient_id, "--grant"))
    ok(
        run(
            home,
            "care",
            "relate",
            patient_id,
            "--kind",
            "appointment",
            "--professional",
            world.physician,
        )
    )
    assert ok(run(home, "care", "mask", document_id)).strip() == "Document masked."
    shown = ok(run(home, "care", "record", patient_id, "--as", world.physician))
    assert document_id not in shown and "No documents." in shown and "Body weight" in shown
    target = tmp_path / "masked.pdf"
    refused = run(
        home, "care", "document", document_id, "--out", str(target), "--as", world.physician
    )
    assert "masked" in assert_one_sentence_error(refused, code=3)
    assert not target.exists()

    excluding = run(home, "care", "exclude", patient_id, "--professional", world.physician)
    assert ok(excluding).strip() == "Professional excluded."
    refused = run(home, "care", "record", patient_id, "--as", world.physician)
    assert assert_one_sentence_error(refused, code=3) == "Error: Not allowed."


def test_break_the_glass_lets_an_unrelated_physician_read(world: World, tmp_path: Path):
    # This patient never consented and has no relationship with anyone.
    home, patient_id = world.home, world.patients["glass"]
    opened = ok(
        run(
            home,
            "care",
            "break-glass",
            patient_id,
            "--code",
            "patient-unconscious",
            "--reason",
            "Brought in unconscious; no relative reachable",
            "--as",
            world.stranger,
        )
    )
    until = datetime.now(UTC) + timedelta(hours=4)
    assert f"Emergency access open until {until:%Y-%m-%d}" in opened
    shown = ok(run(home, "care", "record", patient_id, "--as", world.stranger))
    assert "Patient: Lina CareGlass" in shown and "Body weight" in shown
    target = tmp_path / "report.pdf"
    args = ("care", "document", world.documents["glass"], "--out", str(target))
    written = ok(run(home, *args, "--as", world.stranger))
    assert "'Compte rendu de test'" in written and target.read_bytes().startswith(b"%PDF-")
    assert target.stat().st_mode & 0o777 == 0o600
    again = run(home, *args, "--as", world.stranger)
    assert "already exists" in assert_one_sentence_error(again, code=2)


def test_an_insurer_enrols_members_and_asks_eligibility_and_usage(world: World, tmp_path: Path):
    home = world.home
    insurer = ok(
        run(home, "organisations", "add", "Mutuelle des Tests", "--kind", "insurer")
    ).strip()
    coffre = _open(home)
    try:
        with coffre.uow() as uow:
            identity.create_accounts(
                uow,
                [NewAccount(insurer, "agent.tests", "not-used-here", "insurer-agent", "Agent")],
            )
            uow.commit()
    finally:
        coffre.close()
    members = tmp_path / "members.csv"
    members.write_text(
        "member_id,patient_id,covered_from,covered_until\n"
        f"M-100,{world.patients['insured']},2020-01-01,\n"
        f"M-200,{world.patients['lapsed']},2020-01-01,2020-12-31\n"
    )
    assert ok(run(home, "insurers", "enrol", insurer, str(members))).strip() == (
        "Enrolled 2 members."
    )
    asked = ("insurers", "eligibility")
    as_agent = ("--on", "2024-05-01", "--as", "agent.tests")
    assert ok(run(home, *asked, "M-100", *as_agent)).strip() == "covered on 2024-05-01"
    assert ok(run(home, *asked, "M-200", *as_agent)).strip() == "not covered on 2024-05-01"

    ok(
        run(
            home,
            "care",
            "relate",
            world.patients["insured"],
            "--kind",
            "teleconsultation",
            "--professional",
            world.physician,
        )
    )
    today = datetime.now(UTC).date()
    figures = ok(
        run(
            home,
            "insurers",
            "usage",
            "--since",
            f"{today - timedelta(days=400)}",
            "--until",
            f"{today + timedelta(days=1)}",
            "--as",
            "agent.tests",
        )
    )
    assert re.search(rf"{today:%Y-%m}\s*│\s*1\s", figures), figures
    assert "Members enrolled: 2." in figures


def test_organisation_matrix_and_contract_errors_are_one_sentence(world: World, tmp_path: Path):
    home = world.home
    matrix = tmp_path / "matrix.toml"
    matrix.write_text('format = "coffre-matrix/1"\n[nurse]\nread = ["identity", "gossip"]\n')
    refused = run(home, "organisations", "matrix", world.clinic, str(matrix))
    assert "not a category" in assert_one_sentence_error(refused)

    subcontractor = ok(
        run(home, "organisations", "add", "Labo Soustrait", "--kind", "subcontractor")
    ).strip()
    refused = run(
        home, "organisations", "contract", subcontractor, world.clinic, "--read", "horoscope"
    )
    assert "'horoscope' is not a category" in assert_one_sentence_error(refused, code=2)

    listed = ok(run(home, "organisations", "accounts", world.clinic))
    assert f"{world.physician}\tpractitioner\tphysician\t" in listed
    assert "dr.urgences" in listed and "argon2" not in listed and "not-used" not in listed


@pytest.mark.parametrize("text", ["2024-02-30", "01/03/2024", "tomorrow", ""])
def test_a_bad_date_is_one_sentence(text: str):
    with pytest.raises(UsageError) as caught:
        parse_day(text, "--since")
    assert caught.value.message == "--since must be a date written YYYY-MM-DD, such as 2026-03-01."
    assert caught.value.exit_code == 2
