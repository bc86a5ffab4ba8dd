"""Flagging a patient's record `vip` or `staff`, or clearing the flag.

A flag is an act on the patient's record: decided by `access.decide_flag` (the
data-protection officer, security officer or administrator of the patient's organisation,
or the local operator) and journaled `records:flag:update` in the same transaction,
refusals included. Every later decision on the patient's data carries the fact `flag`
(records/marks.py), for the watch's rules; nobody's access changes because of it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from coffre import access
from coffre.access import Flag, Purpose
from coffre.identity import Actor
from coffre.journal import EventKind, Outcome
from coffre.records.errors import InvalidChoice, NothingToChange
from coffre.records.gate import record, refuse
from coffre.records.patients import load_or_journal_failure
from coffre.records.tables import patient_flags, patients
from coffre.store import UnitOfWork, insert_new

PURPOSE = Purpose.SECURITY


def flag_patient(
    uow: UnitOfWork,
    actor: Actor,
    patient_id: str,
    flag: Flag | str,
    on: bool,
    now: datetime | None = None,
) -> int:
    """Set (`on`) or clear a flag on the patient's record; return the journal position.
    Raises InvalidChoice (an unknown flag), AccessDenied, PatientNotFound, PatientErased or
    NothingToChange (already so: journaled as failed)."""
    try:
        flag = Flag(flag)
    except ValueError:
        known = " or ".join(f.value for f in Flag)
        raise InvalidChoice(f"A record is flagged {known}.") from None
    now = now or datetime.now(UTC)
    kind = EventKind.PATIENT_FLAG
    resources = [f"flag:{flag.value}"]
    with uow:
        organisation = uow.connection.execute(
            sa.select(patients.c.organisation_id).where(patients.c.id == patient_id)
        ).scalar()
        decision = access.decide_flag(actor, flag, on, organisation)
        if not decision.allowed:
            refuse(uow, actor, decision, kind, PURPOSE, [patient_id], resources)
        load_or_journal_failure(uow, actor, decision, kind, PURPOSE, patient_id)
        mine = (patient_flags.c.patient_id == patient_id, patient_flags.c.flag == flag.value)
        if on:
            values = {"patient_id": patient_id, "flag": flag.value, "set_at": now}
            changed = insert_new(uow.connection, patient_flags, {**values, "set_by": actor.id})
        else:
            changed = bool(uow.connection.execute(patient_flags.delete().where(*mine)).rowcount)
        if not changed:
            record(uow, actor, decision, kind, Outcome.FAILED, PURPOSE, [patient_id], resources)
            uow.commit()
            state = "already flagged" if on else "not flagged"
            raise NothingToChange(f"The record is {state} {flag.value}.")
        seq = record(uow, actor, decision, kind, Outcome.SUCCESS, PURPOSE, [patient_id], resources)
        uow.commit()
    return seq
