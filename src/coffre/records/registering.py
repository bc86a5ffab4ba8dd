"""Registering one new patient, as a clinic's reception does (`access.decide_registration`);
the operator's bulk import is `importing.py`."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from coffre import access
from coffre.access import Purpose
from coffre.crypto import IndexKind
from coffre.identity import Actor
from coffre.journal import EventKind, Outcome
from coffre.records.errors import DuplicatePatient
from coffre.records.fhir import parse_patient
from coffre.records.gate import record, refuse
from coffre.records.importing import patient_index_rows, patient_row
from coffre.records.tables import patient_index, patients
from coffre.records.vault import Vault
from coffre.store import UnitOfWork, lock_keys


def register_patient(
    uow: UnitOfWork, vault: Vault, actor: Actor, resource: dict[str, Any], purpose: Purpose
) -> str:
    """Add the patient (a FHIR Patient) to the actor's organisation, sealed under a new data
    key and indexed, and return its id. Refused (journaled as denied) unless the actor may
    register patients; refused (journaled as failed) when the organisation already holds a
    patient with one of its national identifiers, so one person is not split over two
    records. Nothing is added then. Raises InvalidResource, AccessDenied or DuplicatePatient."""
    data = parse_patient(json.dumps(resource), vault.settings.phone_regions)
    kind = EventKind.PATIENT_CREATE
    organisation_id = actor.organisation_id
    with uow:
        decision = access.decide_registration(actor, purpose)
        if not decision.allowed or organisation_id is None:
            refuse(uow, actor, decision, kind, purpose)
        assert organisation_id is not None
        digests = [vault.blind.national_id(s, v) for s, v in data.national_ids]
        # Two registrations of one person at once are judged one after the other.
        lock_keys(uow.connection, [f"national-id:{organisation_id}:{d.hex()}" for d in digests])
        twin = uow.connection.execute(
            sa.select(patients.c.id)
            .join(patient_index, patient_index.c.patient_id == patients.c.id)
            .where(
                patient_index.c.kind == IndexKind.NATIONAL_ID.value,
                patient_index.c.digest.in_(digests),
                patients.c.organisation_id == organisation_id,
            )
            .limit(1)
        ).scalar()
        if twin is not None:
            record(uow, actor, decision, kind, Outcome.FAILED, purpose, [twin])
            uow.commit()
            raise DuplicatePatient(
                "A patient with this national identifier is already registered in your "
                "organisation; ask who may read it to update that record instead."
            )
        patient_id = str(uuid.uuid4())
        (box,) = vault.new_boxes(organisation_id, [patient_id])
        try:
            now = datetime.now(UTC)
            uow.connection.execute(patients.insert(), [patient_row(box, data, now)])
            index_rows = patient_index_rows(vault, patient_id, data)
            if index_rows:
                uow.connection.execute(patient_index.insert(), index_rows)
            record(uow, actor, decision, kind, Outcome.SUCCESS, purpose, [patient_id])
            uow.commit()
        except BaseException:
            # The key was made for a row that will not exist: it must not outlive it.
            vault.keyring.destroy([patient_id])
            raise
    return patient_id
