"""The one way into patient data: decide, journal in the same transaction, then act."""

from __future__ import annotations

from collections.abc import Sequence

from coffre import access, journal
from coffre.access import AccessDenied, Action, Decision, Purpose
from coffre.identity import Actor
from coffre.journal import Entry, EventKind, Outcome
from coffre.store import UnitOfWork


def decide_or_refuse(
    uow: UnitOfWork,
    actor: Actor,
    action: Action,
    purpose: Purpose | None,
    kind: EventKind,
    patient_ids: Sequence[str] = (),
    resource_ids: Sequence[str] = (),
) -> Decision:
    """Return the allowing decision, or journal the denial, commit it and raise AccessDenied."""
    decision = access.decide(actor, action, purpose)
    if not decision.allowed:
        record(uow, actor, decision, kind, Outcome.DENIED, purpose, patient_ids, resource_ids)
        uow.commit()
        raise AccessDenied(decision.rule, decision.explanation)
    return decision


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
