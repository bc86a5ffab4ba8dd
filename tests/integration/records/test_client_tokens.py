"""Bearer tokens at the records gate, on SQLite and PostgreSQL: a token's SMART scopes
narrow what the policy allows (never widen it), and a machine client's ceilings are counted
per patient reached, refused past them exactly, journaled and told to security officers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from careworld import World, build_world
from coffre import identity, notify, records, signin
from coffre.access import AccessDenied, Category, Purpose
from coffre.identity import Actor, CeilingReached, OrganisationKind, local_operator
from coffre.notify import NotificationKind, Recipient
from factories import journal_records
from machineclients import client_actor

RESULT = {
    "resourceType": "Observation",
    "status": "final",
    "code": {"text": "Ferritin"},
    "subject": {"reference": "Patient/x"},
    "valueString": "85 ug/L",
}


@pytest.fixture
def world(coffre) -> World:  # type: ignore[no-untyped-def]
    return build_world(coffre)


def read(coffre, actor: Actor, world: World, **options: object) -> records.PatientRecord:  # type: ignore[no-untyped-def]
    return records.read_record(
        coffre.uow(),
        coffre.vault,
        actor,
        world.patient_id,
        Purpose.CONTRACT,
        **options,  # type: ignore[arg-type]
    )


def denied(coffre, call, rule: str) -> AccessDenied:  # type: ignore[no-untyped-def]
    with pytest.raises(AccessDenied) as raised:
        call()
    assert raised.value.rule == rule
    last = journal_records(coffre)[-1]
    assert (last.outcome, last.rule) == ("denied", rule)
    return raised.value


def test_a_client_reads_only_the_resource_types_its_token_names(coffre, world):
    lab = client_actor(coffre, world.lab, "system/Observation.rs")
    seen = read(coffre, lab, world)
    assert [e.id for e in seen.entries] == [world.entry_ids[Category.RESULTS]]
    assert seen.patient is None and seen.documents == []
    last = journal_records(coffre)[-1]
    assert (last.action, last.outcome, last.actor_kind, last.actor_id) == (
        "records:record:read",
        "success",
        "client",
        lab.id,
    )
    assert last.resource_ids == (world.entry_ids[Category.RESULTS],)


def test_a_token_without_the_scope_is_refused_and_journaled(coffre, world):
    lab = client_actor(coffre, world.lab, "system/Patient.rs")
    refusal = denied(
        coffre, lambda: read(coffre, lab, world, resources={"Observation"}), "token-scope"
    )
    assert "system/Observation.r" in refusal.explanation
    assert journal_records(coffre)[-1].patient_ids == (world.patient_id,)
    with pytest.raises(ValueError, match="a record holds only"):
        read(coffre, lab, world, resources={"Encounter"})


def test_writing_needs_the_create_permission(coffre, world):
    def write(actor: Actor) -> str:
        return records.add_clinical_entry(
            coffre.uow(),
            coffre.vault,
            actor,
            world.patient_id,
            RESULT,
            Category.RESULTS,
            Purpose.CONTRACT,
        )

    reader = client_actor(coffre, world.lab, "system/Observation.rs")
    refusal = denied(coffre, lambda: write(reader), "token-scope")
    assert "system/Observation.c" in refusal.explanation
    writer = client_actor(coffre, world.lab, "system/Observation.crs")
    entry_id = write(writer)
    assert journal_records(coffre)[-1].resource_ids == (entry_id,)


def test_scopes_never_widen_what_the_policy_allows(coffre, world):
    lab = client_actor(coffre, world.lab, "system/*.cruds")
    seen = read(coffre, lab, world)
    assert [e.id for e in seen.entries] == [world.entry_ids[Category.RESULTS]]
    assert seen.patient is None  # the contract names results only
    integration = client_actor(coffre, world.clinic, "system/*.cruds")
    denied(coffre, lambda: read(coffre, integration, world), "default-deny")


def test_a_personal_token_narrows_its_holder(coffre, world):
    secret, _ = signin.issue_personal_token(
        coffre.uow(),
        local_operator(world.clinic),
        "dr.martin",
        "user/Patient.r",
        timedelta(hours=1),
    )
    physician = signin.token_actor(coffre.uow(), secret, source="198.51.100.7")
    patient = records.read_patient(
        coffre.uow(), coffre.vault, physician, world.patient_id, Purpose.CARE
    )
    assert patient["resourceType"] == "Patient"
    seen = records.read_record(
        coffre.uow(), coffre.vault, physician, world.patient_id, Purpose.CARE
    )
    assert seen.patient is not None and seen.entries == [] and seen.documents == []
    denied(
        coffre,
        lambda: records.read_record(
            coffre.uow(),
            coffre.vault,
            physician,
            world.patient_id,
            Purpose.CARE,
            resources={"Condition"},
        ),
        "token-scope",
    )
    # The same person through a session is not narrowed.
    full = records.read_record(
        coffre.uow(), coffre.vault, world.physician, world.patient_id, Purpose.CARE
    )
    assert len(full.entries) > 1


def test_the_ceiling_is_reached_exactly_then_refused_and_told(coffre, world):
    lab = client_actor(coffre, world.lab, "system/Observation.rs", per_hour=3)
    for _ in range(3):
        read(coffre, lab, world)
    before = len(journal_records(coffre))
    for _ in range(2):
        with pytest.raises(CeilingReached) as raised:
            read(coffre, lab, world)
        assert raised.value.period == "hour"
    refusals = journal_records(coffre)[before:]
    assert [(r.action, r.outcome, r.rule) for r in refusals] == [
        ("identity:client:ceiling", "denied", "client-ceiling-hour")
    ] * 2
    assert refusals[0].patient_ids == (world.patient_id,)
    with coffre.reader() as uow:
        told = {
            organisation: notify.list_notifications(uow, Recipient.SECURITY_OFFICER, organisation)
            for organisation in (world.lab, world.clinic)
        }
    for notifications in told.values():  # once an hour, to both organisations
        assert [n.kind for n in notifications] == [NotificationKind.CLIENT_CEILING]
    _, body = notify.render(told[world.clinic][0], "en")
    assert "Results feed" in body and "records per hour" in body
    # People are never charged.
    for _ in range(5):
        records.read_record(
            coffre.uow(), coffre.vault, world.physician, world.patient_id, Purpose.CARE
        )


def test_a_refused_charge_leaves_the_count_as_it_was(coffre, world):
    lab = client_actor(coffre, world.lab, "system/Patient.rs", per_hour=2)
    denied(coffre, lambda: read(coffre, lab, world, resources={"Observation"}), "token-scope")
    with coffre.reader() as uow:
        usage = identity.usage.charge(uow, lab.id, 0, datetime.now(UTC))
    assert usage.hour == 0  # a request the gate refuses is not counted


def test_an_insurer_client_is_refused_whatever_its_scopes(coffre, world):
    with coffre.uow() as uow:
        kind = identity.get_organisation(uow, world.insurer).kind
    assert kind is OrganisationKind.INSURER
    insurer = client_actor(coffre, world.insurer, "system/*.cruds")
    denied(coffre, lambda: read(coffre, insurer, world), "insurer-scope")
