"""Exporting the journal for an audit: decided, journaled with its scope, then read."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from coffre import journal
from coffre.access import AccessDenied, Decision, Purpose
from coffre.identity import Actor, ActorKind
from coffre.journal import Entry, EventKind, Filter, Outcome
from factories import journal_records

P1, P2 = "patient-one", "patient-two"
ANA = Actor(kind=ActorKind.ACCOUNT, id="account:ana", role="practitioner", source="203.0.113.1")
BOB = Actor(kind=ActorKind.ACCOUNT, id="account:bob", role="practitioner", source="203.0.113.2")
ALLOW = Decision(True, "care-read", "the practitioner treats the patient")
LONG_AGO = datetime(2020, 3, 4, 5, 6, 7, tzinfo=UTC)


def _read(actor: Actor, patient: str, when: datetime | None = None) -> Entry:
    return Entry(
        EventKind.PATIENT_READ,
        actor,
        ALLOW,
        Outcome.SUCCESS,
        Purpose.CARE,
        (patient,),
        (),
        when or datetime.now(UTC),
    )


@pytest.fixture
def seqs(coffre) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Five reads: by whom, of whom, and whether long ago, by name."""
    entries = {
        "ana-p1-old": _read(ANA, P1, LONG_AGO),
        "ana-p2-old": _read(ANA, P2, LONG_AGO),
        "ana-p1": _read(ANA, P1),
        "bob-p1": _read(BOB, P1),
        "bob-p2": _read(BOB, P2),
    }
    with coffre.uow() as uow:
        numbers = journal.append(uow, list(entries.values()))
        uow.commit()
    return dict(zip(entries, numbers, strict=True))


def _export(coffre, actor: Actor, where: Filter) -> tuple[int, list[journal.Record]]:  # type: ignore[no-untyped-def]
    total, records = journal.audit.open_export(coffre.uow(), coffre.reader(), actor, where)
    return total, list(records)


def test_an_unfiltered_export_holds_every_entry_including_its_own(coffre, operator, seqs):
    total, records = _export(coffre, operator, Filter())
    assert total == len(records) == len(seqs) + 1
    assert [r.seq for r in records[:-1]] == sorted(seqs.values())
    own = records[-1]
    assert own.action == "journal:log:export"
    assert (own.actor_id, own.decision, own.outcome) == (operator.id, "allow", "success")
    assert (own.rule, own.purpose) == ("operator-audit-export", "audit")
    assert own.patient_ids == () and own.resource_ids == ()


@pytest.mark.parametrize(
    ("where", "expected", "scope"),
    [
        (Filter(since="2025-01-01"), ["ana-p1", "bob-p1", "bob-p2"], ("since:2025-01-01",)),
        (Filter(patient_id=P1), ["ana-p1-old", "ana-p1", "bob-p1"], (f"patient:{P1}",)),
        (Filter(actor_id=BOB.id), ["bob-p1", "bob-p2"], (f"actor:{BOB.id}",)),
        (
            Filter(since="2025-01-01", patient_id=P1, actor_id=ANA.id),
            ["ana-p1"],
            ("since:2025-01-01", f"patient:{P1}", f"actor:{ANA.id}"),
        ),
    ],
    ids=["since", "patient", "actor", "all-three"],
)
def test_an_export_holds_the_entries_its_filter_selects_and_journals_its_scope(
    coffre, operator, seqs, where, expected, scope
):
    total, records = _export(coffre, operator, where)
    # The export's own entry is by the operator, of now, and names the filter's patient:
    # the `since` and `patient` filters keep it.
    wanted = [seqs[name] for name in expected]
    if where in (Filter(since="2025-01-01"), Filter(patient_id=P1)):
        wanted.append(len(seqs))
    assert [r.seq for r in records] == wanted
    assert total == len(wanted)
    own = journal_records(coffre)[-1]
    assert own.action == "journal:log:export"
    assert own.resource_ids == scope
    assert own.patient_ids == ((where.patient_id,) if where.patient_id else ())


def test_an_export_by_anyone_else_is_refused_and_the_refusal_is_journaled(coffre, stranger, seqs):
    before = len(journal_records(coffre))
    with pytest.raises(AccessDenied) as refused:
        journal.audit.open_export(coffre.uow(), coffre.reader(), stranger, Filter(patient_id=P2))
    assert refused.value.rule == "default-deny"
    after = journal_records(coffre)
    assert len(after) == before + 1
    own = after[-1]
    assert own.action == "journal:log:export"
    assert (own.actor_id, own.decision, own.outcome) == (stranger.id, "deny", "denied")
    assert (own.patient_ids, own.resource_ids) == ((P2,), (f"patient:{P2}",))
    assert own.purpose == "audit"


def test_reading_an_entry_for_a_proof_is_journaled_and_refused_to_strangers(sqlite_coffre):
    from coffre.identity import local_operator
    from coffre.journal import audit

    with sqlite_coffre.uow() as uow:
        journal.append(uow, [_read(ANA, P1)])
        uow.commit()
    data = audit.read_for_proof(sqlite_coffre.uow(), local_operator(), 0, 1)
    assert journal.decode(data).patient_ids == (P1,)
    last = journal_records(sqlite_coffre)[-1]
    assert (last.action, last.resource_ids) == (
        "journal:log:export",
        ("proof:entry:0", "proof:size:1"),
    )
    with pytest.raises(AccessDenied):
        audit.read_for_proof(sqlite_coffre.uow(), BOB, 0, 1)
    refused = journal_records(sqlite_coffre)[-1]
    assert (refused.actor_id, refused.outcome) == (BOB.id, "denied")
    with pytest.raises(journal.JournalError):
        audit.read_for_proof(sqlite_coffre.uow(), local_operator(), 99, 100)
