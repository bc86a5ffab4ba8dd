"""A patient's access history: decided, journaled, newest first, paged, filtered by document."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from coffre import journal
from coffre.access import AccessDenied, Decision, Purpose
from coffre.identity import Actor, ActorKind, parse_scopes
from coffre.journal import Entry, EventKind, Outcome
from factories import journal_records

P1, P2 = "patient-one", "patient-two"
READER = Actor(
    kind=ActorKind.ACCOUNT, id="account:dr-martin", role="practitioner", source="203.0.113.9"
)
ALLOW = Decision(True, "care-read", "the practitioner treats the patient")


def _read(*patients: str, document: str | None = None) -> Entry:
    return Entry(
        EventKind.DOCUMENT_READ if document else EventKind.PATIENT_READ,
        READER,
        ALLOW,
        Outcome.SUCCESS,
        Purpose.CARE,
        patients,
        (document,) if document else (),
        datetime.now(UTC),
    )


def _append(coffre, entries: list[Entry]) -> list[int]:  # type: ignore[no-untyped-def]
    with coffre.uow() as uow:
        seqs = journal.append(uow, entries)
        uow.commit()
    return seqs


def _size(coffre) -> int:  # type: ignore[no-untyped-def]
    with coffre.uow() as uow:
        return journal.size(uow)


def _history(coffre, actor, patient=P1, purpose=Purpose.SUBJECT_ACCESS, **kwargs):  # type: ignore[no-untyped-def]
    return journal.patient_history(coffre.uow(), actor, patient, purpose, **kwargs)


def test_the_operator_sees_every_entry_naming_the_patient_newest_first(coffre, operator):
    seqs = _append(coffre, [_read(P1), _read(P2), _read(P1, P2), _read(P1)])
    page = _history(coffre, operator)
    assert page.patient_id == P1
    assert [r.seq for r in page.items] == [seqs[3], seqs[2], seqs[0]]
    assert page.total == 3
    assert page.next_before is None
    assert page.items[0].actor_id == READER.id and page.items[0].rule == "care-read"


def test_an_entry_naming_other_patients_too_shows_only_this_one(coffre, operator):
    together = replace(
        _read(P1, P2, "patient-three"),
        resource_ids=("insurer:mutuelle-est", "document-of-patient-two"),
    )
    alone = _read(P1, document="document-of-patient-one")
    _append(coffre, [together, alone])
    page = _history(coffre, operator)
    assert [(r.patient_ids, r.resource_ids) for r in page.items] == [
        ((P1,), ("document-of-patient-one",)),
        ((P1,), ("insurer:mutuelle-est",)),
    ]
    # What the patient's view leaves out is still in the journal itself.
    kept = [r for r in journal_records(coffre) if r.seq == page.items[1].seq]
    assert kept[0].patient_ids == (P1, "patient-three", P2)  # sorted in the entry
    assert P2 not in str(page) and "patient-three" not in str(page)


def test_reading_the_history_is_itself_journaled_and_then_part_of_the_history(coffre, operator):
    _append(coffre, [_read(P1)])
    _history(coffre, operator)
    last = journal_records(coffre)[-1]
    assert last.action == "journal:history:read"
    assert (last.actor_id, last.actor_kind) == (operator.id, "operator")
    assert last.patient_ids == (P1,) and last.resource_ids == ()
    assert (last.decision, last.outcome) == ("allow", "success")
    assert last.rule == "operator-subject-access-history"
    assert last.purpose == "subject-access"
    again = _history(coffre, operator)
    assert again.total == 2
    assert again.items[0].seq == last.seq


def test_pages_follow_next_before_down_to_the_oldest_entry(coffre, operator):
    seqs = _append(coffre, [_read(P1) for _ in range(7)])
    first = _history(coffre, operator, limit=3)
    assert [r.seq for r in first.items] == seqs[6:3:-1]
    assert first.next_before == seqs[4]
    second = _history(coffre, operator, limit=3, before=first.next_before)
    assert [r.seq for r in second.items] == seqs[3:0:-1]
    assert second.next_before == seqs[1]
    third = _history(coffre, operator, limit=3, before=second.next_before)
    assert [r.seq for r in third.items] == [seqs[0]]
    assert third.next_before is None
    # Each read of the history names the patient too, so the total grows by one per page.
    assert (first.total, second.total, third.total) == (7, 8, 9)


def test_a_page_size_out_of_bounds_is_brought_back_into_bounds(sqlite_coffre):
    operator = Actor(kind=ActorKind.OPERATOR, id="operator:ana@host", source="cli@host")
    seqs = _append(sqlite_coffre, [_read(P1) for _ in range(502)])
    page = _history(sqlite_coffre, operator, limit=0)
    assert [r.seq for r in page.items] == [seqs[-1]]
    assert page.next_before == seqs[-1]
    page = _history(sqlite_coffre, operator, limit=10**6, before=seqs[-1])
    assert [r.seq for r in page.items] == seqs[-2:-502:-1]  # 500, the most a page holds
    assert page.next_before == seqs[1]


def test_a_document_filter_looks_past_many_batches_of_other_entries(coffre, operator):
    # Three reads of doc-a, then ten reads of other documents: with a page of two, the
    # matching entries lie several batches of three below the newest entry.
    seqs = _append(
        coffre,
        [_read(P1, document="doc-a") for _ in range(3)]
        + [_read(P1, document=f"doc-{n}") for n in range(10)],
    )
    first = _history(coffre, operator, document_id="doc-a", limit=2)
    assert [r.seq for r in first.items] == [seqs[2], seqs[1]]
    assert all(r.resource_ids == ("doc-a",) for r in first.items)
    assert first.total is None
    assert first.next_before == seqs[1]
    second = _history(coffre, operator, document_id="doc-a", limit=2, before=first.next_before)
    assert [r.seq for r in second.items] == [seqs[0]]
    assert second.next_before is None
    last = journal_records(coffre)[-1]
    assert last.action == "journal:history:read"
    assert last.resource_ids == ("doc-a",)


def test_a_document_nobody_read_has_an_empty_history(sqlite_coffre):
    operator = Actor(kind=ActorKind.OPERATOR, id="operator:ana@host", source="cli@host")
    _append(sqlite_coffre, [_read(P1, document=f"doc-{n}") for n in range(5)])
    page = _history(sqlite_coffre, operator, document_id="doc-unread", limit=2)
    assert page.items == []
    assert (page.total, page.next_before) == (None, None)


def test_a_stranger_is_refused_and_the_refusal_is_journaled(coffre, stranger):
    _append(coffre, [_read(P1)])
    before = _size(coffre)
    with pytest.raises(AccessDenied) as refused:
        _history(coffre, stranger, document_id="doc-a")
    assert refused.value.rule == "default-deny"
    assert _size(coffre) == before + 1
    last = journal_records(coffre)[-1]
    assert last.action == "journal:history:read"
    assert last.actor_id == stranger.id
    assert (last.decision, last.outcome, last.rule) == ("deny", "denied", "default-deny")
    assert last.patient_ids == (P1,) and last.resource_ids == ("doc-a",)


def test_the_operator_needs_the_subject_access_purpose(sqlite_coffre):
    operator = Actor(kind=ActorKind.OPERATOR, id="operator:ana@host", source="cli@host")
    with pytest.raises(AccessDenied) as refused:
        _history(sqlite_coffre, operator, purpose=Purpose.CARE)
    assert refused.value.rule == "operator-subject-access-history-purpose"
    last = journal_records(sqlite_coffre)[-1]
    assert (last.outcome, last.purpose) == ("denied", "care")


def test_a_patient_reads_their_own_history_and_no_one_elses(sqlite_coffre):
    patient = Actor(
        kind=ActorKind.ACCOUNT, id="account:p1", role="patient", patient_id=P1, source="web"
    )
    seqs = _append(sqlite_coffre, [_read(P1), _read(P2)])
    own = _history(sqlite_coffre, patient, P1)
    assert [r.seq for r in own.items] == [seqs[0]]
    assert journal_records(sqlite_coffre)[-1].rule == "patient-own-history"
    with pytest.raises(AccessDenied) as refused:
        _history(sqlite_coffre, patient, P2)
    assert refused.value.rule == "patient-own-history"
    last = journal_records(sqlite_coffre)[-1]
    assert (last.actor_id, last.patient_ids, last.outcome) == ("account:p1", (P2,), "denied")


def test_a_token_needs_the_audit_event_search_scope(coffre):
    _append(coffre, [_read(P1)])
    patient = Actor(
        kind=ActorKind.ACCOUNT, id="account:p1", role="patient", patient_id=P1, source="x"
    )
    narrow = replace(patient, scopes=parse_scopes("user/Patient.rs"))
    before = _size(coffre)
    with pytest.raises(AccessDenied, match="token-scope"):
        _history(coffre, narrow)
    assert _size(coffre) == before + 1  # the refusal is journaled
    wide = replace(patient, scopes=parse_scopes("user/AuditEvent.rs"))
    assert _history(coffre, wide).items
