"""The one way into patient data: decide, journal in the same transaction, then act."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

import sqlalchemy as sa

from coffre import access, journal
from coffre.access import AccessDenied, Action, DataRequest, Decision, PatientFacts, Purpose
from coffre.identity import Actor, ActorKind, OrganisationKind
from coffre.journal import Entry, EventKind, Outcome
from coffre.records.ceilings import charge
from coffre.records.guard import guard
from coffre.records.marks import load_marks
from coffre.records.tables import patients
from coffre.records.vault import Vault
from coffre.store import UnitOfWork

_ORGANISATION_OF = sa.select(patients.c.organisation_id).where(patients.c.id == sa.bindparam("id"))


def refuse(
    uow: UnitOfWork,
    actor: Actor,
    decision: Decision,
    kind: EventKind,
    purpose: Purpose | None,
    patient_ids: Sequence[str] = (),
    resource_ids: Sequence[str] = (),
) -> None:
    """Journal a denial, commit it and raise AccessDenied (saying only "not allowed" when
    the decision may not be disclosed)."""
    record(uow, actor, decision, kind, Outcome.DENIED, purpose, patient_ids, resource_ids)
    uow.commit()
    raise AccessDenied(decision.rule, decision.explanation, disclosed=decision.disclosed)


def decide_or_refuse(
    uow: UnitOfWork,
    actor: Actor,
    action: Action,
    purpose: Purpose | None,
    kind: EventKind,
    patient_ids: Sequence[str] = (),
    resource_ids: Sequence[str] = (),
) -> Decision:
    """For operations that are not one professional's care of one patient (import, search,
    subject access, erasure, keys): return the allowing decision, or refuse."""
    decision = access.decide(actor, action, purpose)
    if not decision.allowed:
        refuse(uow, actor, decision, kind, purpose, patient_ids, resource_ids)
    return decision


def patient_facts(uow: UnitOfWork, actor: Actor, patient_id: str, now: datetime) -> PatientFacts:
    """The facts a decision on this patient needs (no access facts for the local operator,
    whose rules do not depend on them), with the record's flags and what the actor shares
    with the patient, which every decision carries for the watch (one more query)."""
    if actor.kind is ActorKind.OPERATOR:
        facts = PatientFacts(patient_id)
    else:
        facts = access.load_patient_facts(uow, patient_id, now)
    flags, shared = load_marks(uow, actor, patient_id)
    if not flags and not shared:
        return facts
    return replace(facts, flags=flags, shared_with_actor=shared)


def organisation_for(uow: UnitOfWork, actor: Actor, patient_id: str) -> str | None:
    """The patient's organisation when the decision depends on it (a subcontractor's
    contracts are with organisations), else None."""
    if actor.organisation_kind is not OrganisationKind.SUBCONTRACTOR:
        return None
    return uow.connection.execute(_ORGANISATION_OF, {"id": patient_id}).scalar()


def decide_on_patient(
    uow: UnitOfWork,
    vault: Vault,
    actor: Actor,
    request: DataRequest,
    kind: EventKind,
    patient_id: str,
    now: datetime,
    resource_ids: Sequence[str] = (),
) -> tuple[Decision, PatientFacts]:
    """Decide a read or write of one patient's data by any actor, from that patient's facts
    (one query), and count it against a machine client's ceilings; return the allowing
    decision and the facts, or refuse (AccessDenied, CeilingReached)."""
    facts = patient_facts(uow, actor, patient_id, now)
    organisation = organisation_for(uow, actor, patient_id)
    decision = access.decide_data(
        actor,
        request,
        facts,
        now,
        patient_organisation_id=organisation,
        durations=vault.settings.durations,
    )
    if not decision.allowed:
        refuse(uow, actor, decision, kind, request.purpose, [patient_id], resource_ids)
    guard(uow, vault.guard, actor, [patient_id], request.purpose, now)
    charge(uow, actor, [patient_id], request.purpose, now, organisation)
    return decision, facts


def record(
    uow: UnitOfWork,
    actor: Actor,
    decision: Decision,
    kind: EventKind,
    outcome: Outcome,
    purpose: Purpose | None,
    patient_ids: Sequence[str] = (),
    resource_ids: Sequence[str] = (),
) -> int:
    """Append one entry in the open transaction and return its sequence number."""
    entry = Entry(kind, actor, decision, outcome, purpose, tuple(patient_ids), tuple(resource_ids))
    return journal.append(uow, [entry])[0]


def journal_missing(
    uow: UnitOfWork,
    actor: Actor,
    kind: EventKind,
    purpose: Purpose,
    item_id: str,
    rule: str,
    explanation: str,
) -> None:
    """Journal, and commit, an attempt on an item of a record that does not exist (no
    patient is named: there is none to name)."""
    missing = Decision(False, rule, explanation)
    record(uow, actor, missing, kind, Outcome.FAILED, purpose, (), [item_id])
    uow.commit()


def refuse_unknown_item(
    uow: UnitOfWork, actor: Actor, request: DataRequest, kind: EventKind, item_id: str
) -> None:
    """For an item (an entry, a document) that does not exist: refuse it, journaled, as the
    actor would be refused the item of a record they have nothing to do with (no consent,
    no relationship, not their own), so that a refusal does not tell a missing item from
    someone else's. Return only when such an item would be open to the actor, who may
    then learn that it is missing."""
    unknown = access.PatientFacts("")
    decision = access.decide_data(
        actor, request, unknown, datetime.now(UTC), patient_organisation_id=None
    )
    if not decision.allowed:
        refuse(uow, actor, decision, kind, request.purpose, (), [item_id])
