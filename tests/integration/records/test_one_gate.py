"""Every records service that touches patient data asks access and journals, denials included.

An import graph cannot show this, so the test walks `records.__all__`: a new public function
that touches patient data must be added to GATED (and so be tested here, denied to an
outsider and allowed to the actor it is meant for) or to NOT_PATIENT_DATA with a reason.
"""

from __future__ import annotations

import inspect
import io
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from careworld import World, build_world
from coffre import identity, records
from coffre.access import AccessDenied, Category, EmergencyReason, Purpose, RelationshipKind
from coffre.identity import NewAccount, OrganisationKind
from coffre.records import ErasureReason, FindCriteria
from factories import journal_records, lines_of, patient

CARE, REQUEST = Purpose.CARE, Purpose.PATIENT_REQUEST
Call = Callable[[Any, Any, World], object]


def _team(coffre, world: World) -> str:  # type: ignore[no-untyped-def]
    """A care team of the clinic with dr.martin, made without a decision."""
    with coffre.uow() as uow:
        physician = identity.find_account(uow, "dr.martin").id
        team_id = identity.create_care_team(uow, world.clinic, "Cardio", [physician])
        uow.commit()
    return team_id


def _contract(coffre, world: World) -> str:  # type: ignore[no-untyped-def]
    """A contract of the lab with the clinic, made without a decision."""
    with coffre.uow() as uow:
        contract_id = identity.add_contract(
            uow,
            world.lab,
            world.clinic,
            [Category.RESULTS.value],
            [],
            starts_at=datetime(2020, 1, 1, tzinfo=UTC),
        )
        uow.commit()
    return contract_id


# name -> (the call, which actor of the world it is meant for)
GATED: dict[str, tuple[Call, str]] = {
    "flag_patient": (
        lambda c, a, w: records.flag_patient(c.uow(), a, w.patient_id, "vip", True),
        "operator",
    ),
    "import_patients": (
        lambda c, a, w: records.import_patients(
            c.uow(), c.vault, a, lines_of([patient()]), w.clinic
        ),
        "operator",
    ),
    "find_patients": (
        lambda c, a, w: records.find_patients(
            c.uow(), c.vault, a, FindCriteria(email="x@example.org")
        ),
        "operator",
    ),
    "read_patient": (
        lambda c, a, w: records.read_patient(c.uow(), c.vault, a, w.patient_id, CARE),
        "physician",
    ),
    "read_record": (
        lambda c, a, w: records.read_record(c.uow(), c.vault, a, w.patient_id, CARE),
        "physician",
    ),
    "read_document": (
        lambda c, a, w: records.read_document(
            c.uow(), c.vault, a, w.document_id, CARE, io.BytesIO()
        ),
        "physician",
    ),
    "export_patient": (
        lambda c, a, w: records.export_patient(
            c.uow(), c.vault, a, w.patient_id, Purpose.SUBJECT_ACCESS, io.BytesIO()
        ),
        "operator",
    ),
    "erase_patient": (
        lambda c, a, w: records.erase_patient(
            c.uow(), c.vault, a, w.patient_id, ErasureReason.TEST_DATA
        ),
        "operator",
    ),
    "add_clinical_entry": (
        lambda c, a, w: records.add_clinical_entry(
            c.uow(),
            c.vault,
            a,
            w.patient_id,
            {"resourceType": "Condition", "subject": {"reference": "x"}},
            Category.REASON,
            CARE,
        ),
        "physician",
    ),
    "add_document": (
        lambda c, a, w: records.add_document(
            c.uow(),
            c.vault,
            a,
            w.patient_id,
            io.BytesIO(b"%PDF-1.4"),
            "application/pdf",
            title="t",
            filename="f.pdf",
            purpose=CARE,
        ),
        "physician",
    ),
    "update_patient": (
        lambda c, a, w: records.update_patient(
            c.uow(), c.vault, a, w.patient_id, patient(family="Lefèvre-Martin"), CARE
        ),
        "receptionist",
    ),
    "register_patient": (
        lambda c, a, w: records.register_patient(
            c.uow(), c.vault, a, patient(family="Nouveau", given="Arthur"), CARE
        ),
        "receptionist",
    ),
    "search_patients": (
        lambda c, a, w: records.search_patients(
            c.uow(), c.vault, a, FindCriteria(family="Lefèvre", birth_date="1985-05-12"), CARE
        ),
        "physician",
    ),
    "search_entries": (
        lambda c, a, w: records.search_entries(
            c.uow(), c.vault, a, w.patient_id, CARE, "Observation"
        ),
        "physician",
    ),
    "search_documents": (
        lambda c, a, w: records.search_documents(c.uow(), c.vault, a, w.patient_id, CARE),
        "physician",
    ),
    "read_entry": (
        lambda c, a, w: records.read_entry(
            c.uow(), c.vault, a, "Observation", w.entry_ids[Category.RESULTS], CARE
        ),
        "physician",
    ),
    "open_document": (
        lambda c, a, w: records.open_document(c.uow(), c.vault, a, w.document_id, CARE),
        "physician",
    ),
    "rotate_keys": (lambda c, a, w: records.rotate_keys(c.uow(), c.vault, a), "operator"),
    "set_consent": (
        lambda c, a, w: records.set_consent(c.uow(), c.vault, a, w.patient_id, False, REQUEST),
        "patient_account",
    ),
    "start_relationship": (
        lambda c, a, w: records.start_relationship(
            c.uow(),
            c.vault,
            a,
            w.patient_id,
            RelationshipKind.DECLARATION,
            REQUEST,
            professional="dr.bernard",
        ),
        "patient_account",
    ),
    "end_relationship": (
        lambda c, a, w: records.end_relationship(c.uow(), c.vault, a, w.relationship_id, CARE),
        "physician",
    ),
    "list_relationships": (
        lambda c, a, w: records.list_relationships(c.uow(), c.vault, a, w.patient_id, REQUEST),
        "patient_account",
    ),
    "read_choices": (
        lambda c, a, w: records.read_choices(c.uow(), c.vault, a, w.patient_id, REQUEST),
        "patient_account",
    ),
    "set_exclusion": (
        lambda c, a, w: records.set_exclusion(
            c.uow(), c.vault, a, w.patient_id, "dr.bernard", True, REQUEST
        ),
        "patient_account",
    ),
    "set_mask": (
        lambda c, a, w: records.set_mask(c.uow(), c.vault, a, w.document_id, True, REQUEST),
        "patient_account",
    ),
    "change_choices": (
        lambda c, a, w: records.change_choices(
            c.uow(),
            c.vault,
            a,
            w.patient_id,
            records.Choices(True, (w.colleague.id,), (w.document_id,)),
            REQUEST,
        ),
        "patient_account",
    ),
    "break_glass": (
        lambda c, a, w: records.break_glass(
            c.uow(), c.vault, a, w.patient_id, EmergencyReason.URGENT_CARE, "found unconscious"
        ),
        "colleague",
    ),
    "enrol_members": (
        lambda c, a, w: records.enrol_members(
            c.uow(), c.vault, a, w.insurer, [records.Member("MT-9", w.patient_id, date.today())]
        ),
        "operator",
    ),
    "check_eligibility": (
        lambda c, a, w: records.check_eligibility(c.uow(), c.vault, a, "MT-0001"),
        "insurer_agent",
    ),
    "usage_figures": (
        lambda c, a, w: records.usage_figures(
            c.uow(), c.vault, a, date(2020, 1, 1), date(2030, 1, 1)
        ),
        "insurer_agent",
    ),
    # Setting organisations up changes who may see patient data (records/governance.py).
    "add_organisation": (
        lambda c, a, w: records.add_organisation(
            c.uow(), a, "Cabinet Neuf", OrganisationKind.CARE_PROVIDER, "FR"
        ),
        "operator",
    ),
    "set_organisation_matrix": (
        lambda c, a, w: records.set_organisation_matrix(
            c.uow(), a, w.clinic, 'format = "coffre-matrix/1"\n'
        ),
        "operator",
    ),
    "add_care_team": (
        lambda c, a, w: records.add_care_team(c.uow(), a, w.clinic, "Cardio", ["dr.martin"]),
        "operator",
    ),
    "change_care_team": (
        lambda c, a, w: records.change_care_team(c.uow(), a, _team(c, w), add=["dr.bernard"]),
        "operator",
    ),
    "end_contract": (
        lambda c, a, w: records.end_contract(c.uow(), a, _contract(c, w)),
        "operator",
    ),
    "add_contract": (
        lambda c, a, w: records.add_contract(
            c.uow(), a, w.lab, w.clinic, [Category.RESULTS.value], []
        ),
        "operator",
    ),
    "add_account": (
        lambda c, a, w: records.add_account(
            c.uow(),
            a,
            NewAccount(w.clinic, "inf.neuve", "violet kettle orbit 1968", "practitioner", "I N"),
        ),
        "operator",
    ),
    "set_personal_digests": (
        lambda c, a, w: records.set_personal_digests(
            c.uow(), a, c.vault.blind, "dr.martin", "Martin"
        ),
        "operator",
    ),
}

NOT_PATIENT_DATA = {
    "parse_patient": "validates text handed in; reads nothing stored",
    "valid_nir": "a check-digit computation",
    "valid_insz": "a check-digit computation",
    "reconcile_erasures": "destroys keys of already-erased patients; journals as the system",
}

# Services anyone may call without an identity, by design: each asks access (rule
# `self-sign-up`) and journals, and reveals nothing but to the address on file (tested in
# test_signup.py; here, that each journals).
OPEN_TO_ANYONE = {
    "request_sign_up": "sends a link only to the address a record holds",
    "complete_sign_up": "opens an account with a single-use link",
}

TABLES = (
    "patients",
    "clinical_entries",
    "documents",
    "erasures",
    "access_facts",
    "memberships",
    "notifications",
    "emergency_reasons",
)


def test_every_public_function_is_classified():
    functions = {name for name in records.__all__ if inspect.isfunction(getattr(records, name))}
    assert functions == set(GATED) | set(NOT_PATIENT_DATA) | set(OPEN_TO_ANYONE)


def test_the_services_open_to_anyone_journal_what_they_do(coffre, world):
    keys = coffre.sign_up_keys()
    before = len(journal_records(coffre))
    records.request_sign_up(coffre.uow(), coffre.vault, keys, "x@example.org", "192.0.2.1")
    with pytest.raises(records.SignUpRefused):
        records.complete_sign_up(coffre.uow(), keys, "made-up", "a long passphrase", "192.0.2.1")
    asked, refused = journal_records(coffre)[before:]
    assert (asked.action, asked.rule) == ("identity:sign-up:request", "self-sign-up")
    assert (refused.action, refused.outcome, refused.rule) == (
        "identity:account:create",
        "denied",
        "sign-up-link",
    )


def _counts(coffre) -> list[int]:  # type: ignore[no-untyped-def]
    with coffre.engine.connect() as conn:
        return [conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar() for t in TABLES]


@pytest.fixture
def world(coffre) -> World:  # type: ignore[no-untyped-def]
    return build_world(coffre)


# Someone each service must refuse: a professional of the clinic with no relationship for
# care services, an insurer's agent for the operator's and the patient's.
OUTSIDER = {
    "physician": "insurer_agent",
    "colleague": "insurer_agent",
    "receptionist": "physician",
}


@pytest.mark.parametrize("name", sorted(GATED))
def test_a_denied_call_is_journaled_and_changes_nothing_else(coffre, world, name):
    call, meant_for = GATED[name]
    outsider = getattr(world, OUTSIDER.get(meant_for, "colleague"))
    before, counts = journal_records(coffre), _counts(coffre)
    with pytest.raises(AccessDenied):
        call(coffre, outsider, world)
    after = journal_records(coffre)
    assert len(after) == len(before) + 1
    assert (after[-1].decision, after[-1].outcome) == ("deny", "denied")
    assert after[-1].actor_id == outsider.id
    assert counts == _counts(coffre)


@pytest.mark.parametrize("name", sorted(GATED))
def test_an_allowed_call_is_journaled_with_its_decision(coffre, world, name):
    call, meant_for = GATED[name]
    actor = getattr(world, meant_for)
    before = journal_records(coffre)
    call(coffre, actor, world)
    after = journal_records(coffre)[len(before) :]
    assert after
    assert all(row.decision == "allow" and row.outcome == "success" for row in after)
    assert all(row.actor_id == actor.id for row in after)
    # The facts the decision used are in the entry (ids and codes, never a name).
    assert all(dict(row.facts) for row in after if row.actor_kind == "account")


def test_the_insurer_obtains_no_clinical_field_through_any_service(coffre, world):
    """Every service, called as the insurer's agent: everything touching patient data is
    refused; the two insurer services answer with counts and yes/no only."""
    answers = []
    for name, (call, _) in sorted(GATED.items()):
        try:
            answers.append((name, call(coffre, world.insurer_agent, world)))
        except AccessDenied:
            continue
    assert {name for name, _ in answers} == {"check_eligibility", "usage_figures"}
    text = repr(answers)
    for resource in ENTRY_TEXTS:
        assert resource not in text
    assert "Lefèvre" not in text and "Hélène" not in text and world.patient_id not in text


ENTRY_TEXTS = ("Blood pressure", "anxiety", "Amoxicillin", "HbA1c", "128/82")
