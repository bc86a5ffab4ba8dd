"""Searches: patients through the blind indexes, and one patient's entries and documents.

A search is decided twice. First whether the actor may search at all (`access.decide_search`:
a token without the search scope, or an insurer, is refused outright). Then every patient
found is decided like a read of that patient, and those the policy refuses are left out
without a trace in the answer: the caller cannot tell "no such patient" from "not yours",
and no count says how many were left out. The journal says both: one entry names the
patients returned, another (denied) those left out, so the patients see in their history
who looked for them.

Entries are filtered on their content (the date of an Observation is inside its sealed
resource), so a search opens them within the transaction; the journal names only the
entries returned, and it is committed before anything is returned.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

from coffre import access
from coffre.access import Action, DataRequest, Decision, Purpose
from coffre.identity import Actor
from coffre.journal import EventKind, Outcome
from coffre.records.ceilings import charge
from coffre.records.clinical import DocumentInfo
from coffre.records.errors import EntryNotFound
from coffre.records.gate import (
    decide_on_patient,
    journal_missing,
    organisation_for,
    patient_facts,
    record,
    refuse,
    refuse_unknown_item,
)
from coffre.records.guard import guard
from coffre.records.patients import (
    PATIENT_CATEGORIES,
    PATIENT_RESOURCE,
    FindCriteria,
    decide_item_read,
    digests_for,
    load_or_journal_failure,
    open_patient,
)
from coffre.records.reading import EntryView, document_info
from coffre.records.tables import clinical_entries, documents, patient_index, patients
from coffre.records.vault import Vault
from coffre.store import UnitOfWork

T = TypeVar("T")
MAX_COUNT = 200


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of results; `more` when a next page exists (never how many)."""

    items: list[T]
    more: bool


def _window(offset: int, count: int) -> tuple[int, int]:
    return max(0, offset), max(1, min(count, MAX_COUNT))


def search_patients(
    uow: UnitOfWork,
    vault: Vault,
    actor: Actor,
    criteria: FindCriteria,
    purpose: Purpose,
    *,
    offset: int = 0,
    count: int = 50,
) -> Page[dict[str, Any]]:
    """The Patient resources matching the criteria that the actor may read, one page of
    them in id order. Raises InvalidQuery, or AccessDenied when the actor may not search."""
    kind, digests = digests_for(vault, criteria)
    offset, count = _window(offset, count)
    now = datetime.now(UTC)
    index = [f"index:{kind.value}"]
    with uow:
        decision = access.decide_search(actor, PATIENT_RESOURCE, purpose)
        if not decision.allowed:
            refuse(uow, actor, decision, EventKind.PATIENT_SEARCH, purpose, (), index)
        found = sorted(
            uow.connection.execute(
                sa.select(patient_index.c.patient_id)
                .where(patient_index.c.kind == kind.value, patient_index.c.digest.in_(digests))
                .distinct()
            ).scalars()
        )
        allowed: list[tuple[str, bool]] = []
        withheld: list[str] = []
        refusal: Decision | None = None
        for patient_id in found:
            organisation = organisation_for(uow, actor, patient_id)
            reach = access.readable(actor, PATIENT_CATEGORIES, patient_organisation_id=organisation)
            verdict = access.decide_data(
                actor,
                DataRequest(
                    Action.READ,
                    purpose,
                    reach or PATIENT_CATEGORIES,
                    resources=PATIENT_RESOURCE,
                    operation="s",
                ),
                patient_facts(uow, actor, patient_id, now),
                now,
                patient_organisation_id=organisation,
                durations=vault.settings.durations,
            )
            if verdict.allowed:
                allowed.append((patient_id, access.Category.CONTACT in reach))
            else:
                withheld.append(patient_id)
                refusal = refusal or verdict
        page = allowed[offset : offset + count]
        ids = [patient_id for patient_id, _ in page]
        guard(uow, vault.guard, actor, ids, purpose, now)
        charge(uow, actor, ids, purpose, now)
        if refusal is not None:
            left_out = Decision(
                False,
                "search-withheld",
                "patients found that the access policy does not let this actor see were "
                f"left out of the results (first refusal: {refusal.rule})",
                {"index": kind.value, "rule": refusal.rule},
            )
            record(
                uow,
                actor,
                left_out,
                EventKind.PATIENT_SEARCH,
                Outcome.DENIED,
                purpose,
                withheld,
                index,
            )
        rows = {
            row.id: row
            for row in uow.connection.execute(sa.select(patients).where(patients.c.id.in_(ids)))
        }
        record(uow, actor, decision, EventKind.PATIENT_SEARCH, Outcome.SUCCESS, purpose, ids, index)
        uow.commit()
    return Page(
        [open_patient(vault, rows[i], with_contact=contact) for i, contact in page if i in rows],
        len(allowed) > offset + count,
    )


def _page_of(found: Iterable[T], matches: Callable[[T], bool], offset: int, count: int) -> Page[T]:
    """The page of the items `matches` keeps, reading no further than one past it."""
    kept: list[T] = []
    for item in found:
        if matches(item):
            if len(kept) == offset + count:
                return Page(kept[offset:], True)
            kept.append(item)
    return Page(kept[offset:], False)


def _journal_page(
    uow: UnitOfWork,
    actor: Actor,
    decision: Decision,
    purpose: Purpose,
    patient_id: str,
    returned: list[str],
) -> None:
    """Journal the read of what a search returns, and commit it."""
    record(
        uow,
        actor,
        decision,
        EventKind.RECORD_READ,
        Outcome.SUCCESS,
        purpose,
        [patient_id],
        returned,
    )
    uow.commit()


def _decide_kind(
    uow: UnitOfWork,
    vault: Vault,
    actor: Actor,
    patient_id: str,
    purpose: Purpose,
    resource_type: str,
    now: datetime,
) -> tuple[Decision, frozenset[access.Category], sa.Row[Any], dict[str, str]]:
    """Decide a search of one resource type in the patient's record: the allowing decision,
    the categories the actor reaches, the patient's row and the masked documents."""
    organisation = organisation_for(uow, actor, patient_id)
    everything = frozenset(access.Category)
    reach = access.readable(actor, everything, patient_organisation_id=organisation)
    decision, facts = decide_on_patient(
        uow,
        vault,
        actor,
        DataRequest(
            Action.READ,
            purpose,
            reach or everything,
            resources=frozenset({resource_type}),
            operation="s",
        ),
        EventKind.RECORD_READ,
        patient_id,
        now,
    )
    row = load_or_journal_failure(uow, actor, decision, EventKind.RECORD_READ, purpose, patient_id)
    return decision, reach, row, facts.masked_documents


def search_entries(
    uow: UnitOfWork,
    vault: Vault,
    actor: Actor,
    patient_id: str,
    purpose: Purpose,
    resource_type: str,
    matches: Callable[[EntryView], bool] = lambda _: True,
    *,
    offset: int = 0,
    count: int = 50,
) -> Page[EntryView]:
    """One page of the patient's entries of this type (Observation or Condition) in the
    categories the actor reaches, kept by `matches`, oldest first. Raises AccessDenied,
    PatientNotFound, PatientErased."""
    offset, count = _window(offset, count)
    now = datetime.now(UTC)
    with uow:
        decision, reach, row, _ = _decide_kind(
            uow, vault, actor, patient_id, purpose, resource_type, now
        )
        box = vault.box(row.organisation_id, patient_id, row.key_version)
        rows = uow.connection.execute(
            sa.select(clinical_entries)
            .where(
                clinical_entries.c.patient_id == patient_id,
                clinical_entries.c.resource_type == resource_type,
                clinical_entries.c.category.in_(sorted(reach)),
            )
            .order_by(clinical_entries.c.recorded_at, clinical_entries.c.id)
        )
        page = _page_of((_entry_view(box, r) for r in rows), matches, offset, count)
        _journal_page(uow, actor, decision, purpose, patient_id, [v.id for v in page.items])
    return page


def search_documents(
    uow: UnitOfWork,
    vault: Vault,
    actor: Actor,
    patient_id: str,
    purpose: Purpose,
    matches: Callable[[DocumentInfo], bool] = lambda _: True,
    *,
    offset: int = 0,
    count: int = 50,
) -> Page[DocumentInfo]:
    """One page of the descriptions of the patient's documents in the categories the actor
    reaches (masked ones only for their author), kept by `matches`, oldest first."""
    offset, count = _window(offset, count)
    now = datetime.now(UTC)
    with uow:
        decision, reach, row, masked = _decide_kind(
            uow, vault, actor, patient_id, purpose, "DocumentReference", now
        )
        box = vault.box(row.organisation_id, patient_id, row.key_version)
        rows = uow.connection.execute(
            sa.select(documents)
            .where(documents.c.patient_id == patient_id, documents.c.category.in_(sorted(reach)))
            .order_by(documents.c.created_at, documents.c.id)
        )
        visible = (
            document_info(box, d) for d in rows if d.id not in masked or masked[d.id] == actor.id
        )
        page = _page_of(visible, matches, offset, count)
        _journal_page(uow, actor, decision, purpose, patient_id, [i.id for i in page.items])
    return page


def _entry_view(box: Any, r: sa.Row[Any]) -> EntryView:
    content = box.open_json("clinical_entries", "content", r.id, r.content)
    return EntryView(
        r.id,
        r.category,
        r.resource_type,
        r.recorded_at,
        r.author_id,
        {"resourceType": r.resource_type, "id": r.id, **content},
        r.patient_id,
    )


def _entry_request(entry: sa.Row[Any], purpose: Purpose, as_type: str | None = None) -> DataRequest:
    """A read of the entry, decided as a read of `as_type` (by default its own type)."""
    return DataRequest(
        Action.READ,
        purpose,
        frozenset({access.Category(entry.category)}),
        resources=frozenset({as_type or entry.resource_type}),
    )


def read_entry(
    uow: UnitOfWork,
    vault: Vault,
    actor: Actor,
    resource_type: str,
    entry_id: str,
    purpose: Purpose,
) -> EntryView:
    """One clinical entry of this type, after a decision on its category journaled and
    committed. Raises EntryNotFound, AccessDenied, PatientErased."""
    kind = EventKind.RECORD_READ
    with uow:
        entry = uow.connection.execute(
            sa.select(clinical_entries).where(clinical_entries.c.id == entry_id)
        ).first()
        if entry is None or entry.resource_type != resource_type:
            # Decided first, as the item would be: refused alike whether it is missing,
            # another patient's, or of another type; only a caller who may see it learns
            # that it is not of this type.
            if entry is None:
                unknown = DataRequest(
                    Action.READ,
                    purpose,
                    frozenset({access.Category.CLINICAL_NOTES}),
                    resources=frozenset({resource_type}),
                )
                refuse_unknown_item(uow, actor, unknown, kind, entry_id)
            else:
                decide_on_patient(
                    uow,
                    vault,
                    actor,
                    _entry_request(entry, purpose, resource_type),
                    kind,
                    entry.patient_id,
                    datetime.now(UTC),
                    [entry_id],
                )
            journal_missing(
                uow,
                actor,
                kind,
                purpose,
                entry_id,
                "entry-not-found",
                "there is no entry with that id",
            )
            raise EntryNotFound(f"There is no {resource_type} with id {entry_id}.")
        request = _entry_request(entry, purpose)
        row = decide_item_read(uow, vault, actor, request, kind, entry.patient_id, entry_id)
    return _entry_view(vault.box(row.organisation_id, entry.patient_id, row.key_version), entry)
