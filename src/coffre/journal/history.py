"""The patient's view: who accessed their record, what, when, why and under which rule.

Reading the history is itself an access to patient data, so it is decided by `access` and
journaled (`journal:history:read`) before anything is returned.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from coffre import access
from coffre.access import AccessDenied, Action, Purpose
from coffre.identity import Actor
from coffre.journal.entries import Entry, EventKind, Outcome, Record
from coffre.journal.service import Filter, append, catch_up, count_records, select_records
from coffre.store import UnitOfWork

MAX_PAGE = 500
# What a token's scopes must allow to search: the history is served as AuditEvents.
HISTORY_RESOURCE = ("AuditEvent",)


@dataclass(frozen=True)
class HistoryPage:
    patient_id: str
    items: list[Record]  # newest first
    total: int | None  # entries naming the patient (None when filtered by document)
    next_before: int | None  # pass as `before` for the next page; None on the last page


def patient_history(
    uow: UnitOfWork,
    actor: Actor,
    patient_id: str,
    purpose: Purpose,
    *,
    document_id: str | None = None,
    before: int | None = None,
    limit: int = 50,
) -> HistoryPage:
    """One page of the entries naming the patient (or one of their documents), newest first.

    Raises AccessDenied (journaled) when the actor may not read this history."""
    limit = max(1, min(limit, MAX_PAGE))
    resources = (document_id,) if document_id else ()
    decision = access.decide_token(actor, HISTORY_RESOURCE, "s") or access.decide(
        actor, Action.READ_HISTORY, purpose, patient_id
    )
    with uow:
        if not decision.allowed:
            entry = Entry(
                EventKind.HISTORY_READ,
                actor,
                decision,
                Outcome.DENIED,
                purpose,
                (patient_id,),
                resources,
            )
            append(uow, [entry])
            uow.commit()
            raise AccessDenied(decision.rule, decision.explanation)
        catch_up(uow)
        items: list[Record] = []
        cursor = before
        more = False
        while True:
            batch = list(
                select_records(
                    uow,
                    Filter(patient_id=patient_id, before_seq=cursor),
                    newest_first=True,
                    limit=limit + 1,
                )
            )
            for record in batch:
                if document_id is None or document_id in record.resource_ids:
                    if len(items) == limit:
                        more = True
                        break
                    items.append(seen_by(record, patient_id))
            if more or len(batch) <= limit:
                break
            cursor = batch[-1].seq
        total = None if document_id else count_records(uow, Filter(patient_id=patient_id))
        entry = Entry(
            EventKind.HISTORY_READ,
            actor,
            decision,
            Outcome.SUCCESS,
            purpose,
            (patient_id,),
            resources,
        )
        append(uow, [entry])
        uow.commit()
    return HistoryPage(patient_id, items, total, items[-1].seq if more else None)


def seen_by(record: Record, patient_id: str) -> Record:
    """The entry as the patient's history shows it: naming this patient alone. An entry that
    names other patients too (a search, an enrolment, an export) would tell them apart, so
    their ids are left out, and so are its resources given by bare id, which may be records
    of theirs; resources named by kind (`insurer:…`, `index:…`) stay."""
    if record.patient_ids == (patient_id,):
        return record
    return replace(
        record,
        patient_ids=(patient_id,),
        resource_ids=tuple(r for r in record.resource_ids if ":" in r),
    )
