"""Records flagged VIP or staff, on SQLite and PostgreSQL: who may flag (and that a refusal
is journaled and changes nothing), and the fact `flag` that every decision on the patient's
data then carries, allowed or denied."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from careworld import World, account, build_world
from coffre import records
from coffre.access import AccessDenied, EmergencyReason, Flag, Purpose
from coffre.records import ErasureReason
from factories import journal_records

CARE = Purpose.CARE


@pytest.fixture
def world(coffre) -> World:  # type: ignore[no-untyped-def]
    return build_world(coffre)


def read(coffre, actor, world):  # type: ignore[no-untyped-def]
    return records.read_record(coffre.uow(), coffre.vault, actor, world.patient_id, CARE)


def flag(coffre, actor, world, name, on=True):  # type: ignore[no-untyped-def]
    return records.flag_patient(coffre.uow(), actor, world.patient_id, name, on)


def last_facts(coffre) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return dict(journal_records(coffre)[-1].facts)


def flag_rows(coffre) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    with coffre.engine.connect() as conn:
        query = sa.text("SELECT patient_id, flag, set_by FROM patient_flags ORDER BY flag")
        return [tuple(row) for row in conn.execute(query)]


def test_an_unflagged_record_gives_no_flag_fact(coffre, world):
    read(coffre, world.physician, world)
    assert "flag" not in last_facts(coffre)


def test_the_dpo_flags_a_record_and_every_read_then_carries_the_flag(coffre, world):
    dpo = account(coffre, world.clinic, "dpo.parc", "data-protection-officer")
    seq = flag(coffre, dpo, world, Flag.VIP)
    entry = journal_records(coffre)[-1]
    assert entry.seq == seq
    assert (entry.action, entry.decision, entry.outcome, entry.rule) == (
        "records:flag:update",
        "allow",
        "success",
        "flag-record",
    )
    assert entry.patient_ids == (world.patient_id,) and entry.resource_ids == ("flag:vip",)
    assert dict(entry.facts)["role"] == "data-protection-officer"
    assert flag_rows(coffre) == [(world.patient_id, "vip", dpo.id)]

    read(coffre, world.physician, world)
    assert last_facts(coffre)["flag"] == "vip"
    officer = account(coffre, world.clinic, "sec.parc", "security-officer")
    flag(coffre, officer, world, "staff")
    records.read_patient(coffre.uow(), coffre.vault, world.receptionist, world.patient_id, CARE)
    assert last_facts(coffre)["flag"] == "vip,staff"
    admin = account(coffre, world.clinic, "admin.parc", "organisation-admin")
    flag(coffre, admin, world, Flag.VIP, on=False)
    read(coffre, world.physician, world)
    assert last_facts(coffre)["flag"] == "staff"


def test_denied_accesses_and_emergencies_carry_the_flag_too(coffre, world):
    flag(coffre, world.operator, world, Flag.VIP)
    with pytest.raises(AccessDenied, match="no-care-relationship"):
        read(coffre, world.colleague, world)  # a curious colleague, no relationship
    denied = journal_records(coffre)[-1]
    assert denied.outcome == "denied" and dict(denied.facts)["flag"] == "vip"
    records.break_glass(
        coffre.uow(), coffre.vault, world.colleague, world.patient_id,
        EmergencyReason.URGENT_CARE, "found unconscious",
    )  # fmt: skip
    glass = journal_records(coffre)[-1]
    assert glass.action == "access:break-the-glass:create" and dict(glass.facts)["flag"] == "vip"


@pytest.mark.parametrize(
    "who",
    ["physician", "receptionist", "patient_account", "insurer_agent", "lab_technician"],
)
def test_a_flag_set_by_someone_not_allowed_is_refused_journaled_and_not_kept(coffre, world, who):
    actor = getattr(world, who)
    before = len(journal_records(coffre))
    with pytest.raises(AccessDenied, match=r"flag-record|token-scope"):
        flag(coffre, actor, world, Flag.STAFF)
    [refused] = journal_records(coffre)[before:]
    assert (refused.action, refused.decision, refused.outcome) == (
        "records:flag:update",
        "deny",
        "denied",
    )
    assert refused.actor_id == actor.id and refused.patient_ids == (world.patient_id,)
    assert flag_rows(coffre) == []
    read(coffre, world.physician, world)
    assert "flag" not in last_facts(coffre)


def test_another_organisations_dpo_may_not_flag_the_clinics_patients(coffre, world):
    outsider = account(coffre, world.insurer, "dpo.mutuelle", "data-protection-officer")
    with pytest.raises(AccessDenied, match="flag-record"):
        flag(coffre, outsider, world, Flag.VIP)
    assert journal_records(coffre)[-1].outcome == "denied" and flag_rows(coffre) == []


def test_an_unknown_patient_is_journaled_as_failed(coffre, world):
    with pytest.raises(records.PatientNotFound):
        records.flag_patient(coffre.uow(), world.operator, "no-such-patient", Flag.VIP, True)
    entry = journal_records(coffre)[-1]
    assert (entry.action, entry.outcome) == ("records:flag:update", "failed")
    dpo = account(coffre, world.clinic, "dpo.parc", "data-protection-officer")
    with pytest.raises(AccessDenied):  # a DPO learns nothing about an id that is no patient
        records.flag_patient(coffre.uow(), dpo, "no-such-patient", Flag.VIP, True)


def test_flagging_what_is_already_so_changes_nothing_and_is_journaled_as_failed(coffre, world):
    flag(coffre, world.operator, world, Flag.VIP)
    with pytest.raises(records.NothingToChange, match="already flagged vip"):
        flag(coffre, world.operator, world, Flag.VIP)
    assert journal_records(coffre)[-1].outcome == "failed"
    with pytest.raises(records.NothingToChange, match="not flagged staff"):
        flag(coffre, world.operator, world, Flag.STAFF, on=False)
    assert journal_records(coffre)[-1].outcome == "failed"
    assert [row[1] for row in flag_rows(coffre)] == ["vip"]


def test_an_unknown_flag_is_refused_before_anything(coffre, world):
    before = len(journal_records(coffre))
    with pytest.raises(records.InvalidChoice, match="vip or staff"):
        flag(coffre, world.operator, world, "celebrity")
    assert len(journal_records(coffre)) == before


def test_erasing_a_patient_erases_its_flags(coffre, world):
    flag(coffre, world.operator, world, Flag.VIP)
    records.erase_patient(
        coffre.uow(), coffre.vault, world.operator, world.patient_id, ErasureReason.TEST_DATA
    )
    assert flag_rows(coffre) == []


def test_the_operators_reads_carry_the_flag_too(coffre, world):
    records.read_patient(
        coffre.uow(), coffre.vault, world.operator, world.patient_id, Purpose.SUBJECT_ACCESS
    )
    assert "flag" not in last_facts(coffre)
    flag(coffre, world.operator, world, Flag.STAFF)
    records.read_patient(
        coffre.uow(), coffre.vault, world.operator, world.patient_id, Purpose.SUBJECT_ACCESS
    )
    assert last_facts(coffre)["flag"] == "staff"
