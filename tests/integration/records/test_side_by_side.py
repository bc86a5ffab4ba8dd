"""Changes of one record sent at once on PostgreSQL, where transactions run side by side:
each is judged on what the one before it committed, and none fails with an error the
caller cannot act on (SQLite's writers take turns anyway)."""

from __future__ import annotations

import base64
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from careworld import World, build_world
from coffre import identity, notify, records
from coffre.access import Category, Purpose
from coffre.identity import IdentityError
from coffre.notify import NotificationKind, Recipient
from coffre.records import (
    DuplicatePatient,
    ErasureReason,
    InvalidChoice,
    NothingToChange,
    PatientErased,
    SignUpRefused,
    VersionConflict,
)
from coffre.store import lock_keys
from factories import patient
from sidebyside import at_once, behind_another, in_thread, waiting_for_a_lock

CARE = Purpose.CARE


@pytest.fixture
def world(postgres_coffre) -> World:  # type: ignore[no-untyped-def]
    return build_world(postgres_coffre)


def test_an_if_match_is_judged_on_the_version_an_update_at_once_wrote(postgres_coffre, world):
    coffre, outcome = postgres_coffre, {}

    def update() -> None:
        try:
            outcome["version"] = records.update_patient(
                coffre.uow(), coffre.vault, world.receptionist, world.patient_id,
                patient(family="Lefèvre-Martin"), CARE, expected_version=1,
            )  # fmt: skip
        except VersionConflict as conflict:
            outcome["conflict"] = str(conflict)

    behind_another(  # another update, in flight: version 1 → 2
        coffre.engine,
        "UPDATE patients SET version = version + 1 WHERE id = :id",
        {"id": world.patient_id},
        update,
    )
    assert outcome == {
        "conflict": "The patient is at version 2, not 1; read it again before changing it."
    }


def test_a_patient_erased_twice_at_once_is_erased_once(postgres_coffre, world):
    coffre, outcomes = postgres_coffre, []
    lock = threading.Lock()

    def erase() -> None:
        try:
            records.erase_patient(
                coffre.uow(), coffre.vault, world.operator, world.patient_id,
                ErasureReason.TEST_DATA,
            )  # fmt: skip
            found = "erased"
        except PatientErased:
            found = "already erased"
        with lock:
            outcomes.append(found)

    behind_another(  # holds the row: both erasures read it, then wait
        coffre.engine,
        "SELECT id FROM patients WHERE id = :id FOR UPDATE",
        {"id": world.patient_id},
        erase,
        erase,
    )
    assert sorted(outcomes) == ["already erased", "erased"]
    with coffre.reader() as uow:
        erasures = uow.connection.execute(sa.text("SELECT count(*) FROM erasures")).scalar_one()
    assert erasures == 1


def test_one_person_registered_at_once_from_two_desks_gets_one_record(postgres_coffre, world):
    coffre = postgres_coffre
    newcomer = patient(family="Nouveau", given="Arthur")  # one resource, one NIR

    def register() -> str:
        try:
            records.register_patient(coffre.uow(), coffre.vault, world.receptionist, newcomer, CARE)
        except DuplicatePatient:
            return "duplicate"
        return "registered"

    assert at_once(3, register) == ["duplicate", "duplicate", "registered"]


def test_a_flag_set_meanwhile_is_already_set(postgres_coffre, world):
    coffre, outcome = postgres_coffre, {}

    def flag() -> None:
        try:
            records.flag_patient(coffre.uow(), world.operator, world.patient_id, "vip", True)
            outcome["flag"] = "set"
        except NothingToChange:
            outcome["flag"] = "already set"

    behind_another(  # another operator's flag, in flight
        coffre.engine,
        "INSERT INTO patient_flags (patient_id, flag, set_at, set_by) "
        "VALUES (:id, 'vip', now(), 'operator:other')",
        {"id": world.patient_id},
        flag,
    )
    assert outcome == {"flag": "already set"}


def test_a_member_added_to_a_care_team_from_two_screens_at_once_is_added_once(
    postgres_coffre, world
):
    coffre = postgres_coffre
    with coffre.uow() as uow:
        team = identity.create_care_team(uow, world.clinic, "Cardiologie", [])
        uow.commit()

    def add() -> str:
        try:
            with coffre.uow() as uow:
                identity.change_care_team_members(uow, team, [world.physician.id], [])
                uow.commit()
        except IdentityError:
            return "member already"
        return "added"

    assert at_once(3, add) == ["added", "member already", "member already"]


def test_a_member_number_being_enrolled_meanwhile_is_enrolled_twice(postgres_coffre, world):
    """Another desk's enrolment of the same number is in flight, holding its key as
    enrol_members does: this one waits for it, then sees the number taken."""
    coffre, outcome = postgres_coffre, {}
    digest = coffre.vault.blind.member(world.insurer, "MT-4242")
    member = records.Member("MT-4242", world.patient_id, date.today())

    def enrol() -> None:
        try:
            records.enrol_members(
                coffre.uow(), coffre.vault, world.operator, world.insurer, [member]
            )
            outcome["enrol"] = "enrolled"
        except InvalidChoice as refused:
            outcome["enrol"] = str(refused)

    with coffre.uow() as other:
        lock_keys(other.connection, [f"member:{world.insurer}:{digest.hex()}"])
        other.connection.execute(
            sa.text(
                "INSERT INTO memberships (insurer_id, member_digest, patient_id, covered_from) "
                "VALUES (:insurer, :digest, :patient, :start)"
            ),
            {
                "insurer": world.insurer,
                "digest": digest,
                "patient": world.patient_id,
                "start": date.today(),
            },
        )
        thread = in_thread(enrol)
        assert waiting_for_a_lock(coffre.engine)
        other.commit()
    thread.join(30)
    assert outcome == {"enrol": "A member number is enrolled twice with this insurer."}


def test_a_contract_ended_meanwhile_is_not_ended_again_later(postgres_coffre, world):
    coffre, outcome = postgres_coffre, {}
    with coffre.uow() as uow:
        contract_id = identity.add_contract(
            uow, world.lab, world.clinic, [Category.RESULTS.value], [],
            starts_at=datetime(2020, 1, 1, tzinfo=UTC),
        )  # fmt: skip
        uow.commit()
    ended_now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

    def end_later() -> None:
        try:
            with coffre.uow() as uow:
                identity.end_contract(uow, contract_id, ended_now + timedelta(days=30))
                uow.commit()
            outcome["later"] = "ended"
        except IdentityError as refused:
            outcome["later"] = str(refused)

    behind_another(  # another officer's "end now", in flight
        coffre.engine,
        "UPDATE contracts SET ended_at = :at WHERE id = :id",
        {"at": ended_now, "id": contract_id},
        end_later,
    )
    assert outcome == {"later": "That contract has ended already."}


def test_two_sign_up_links_of_one_record_used_at_once_open_one_account(postgres_coffre, world):
    """Two live links of one record (two requests at once, one from each address on file,
    each replacing the links before it), used at the same moment: one account, the other
    refused as the record has one."""
    coffre = postgres_coffre
    resource = patient(family="Deux", given="Adresses", email="first@example.org")
    resource["telecom"].append({"system": "email", "value": "second@example.org"})
    patient_id = records.register_patient(
        coffre.uow(), coffre.vault, world.receptionist, resource, CARE
    )
    keys = coffre.sign_up_keys()
    for email in ("first@example.org", "second@example.org"):
        records.request_sign_up(coffre.uow(), coffre.vault, keys, email, "192.0.2.8")
    with coffre.engine.begin() as conn:  # as two requests at once leave them: both live
        conn.execute(sa.text("UPDATE sign_up_links SET used_at = NULL"))
    with coffre.reader() as uow:
        sealed = [
            n.params["link"].removeprefix("sealed:")
            for n in notify.list_notifications(uow, Recipient.PATIENT, patient_id)
            if n.kind is NotificationKind.SIGN_UP_LINK
        ]
    tokens = iter(
        keys.box.open(base64.urlsafe_b64decode(s), f"sign-up:{patient_id}").decode() for s in sealed
    )
    assert len(sealed) == 2

    def complete() -> str:
        try:
            records.complete_sign_up(
                coffre.uow(), keys, next(tokens), "amber lantern quietly", "192.0.2.8"
            )
        except SignUpRefused as refused:
            return str(refused).split(":")[0]
        return "account opened"

    assert at_once(2, complete) == ["This record already has an account", "account opened"]
    with coffre.reader() as uow:
        assert identity.account_of_patient(uow, patient_id) is not None
