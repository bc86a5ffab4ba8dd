"""Exporting the journal, or one entry of it for a proof, for an audit: decided and
journaled like any other access."""

from __future__ import annotations

from collections.abc import Iterator

from coffre import access
from coffre.access import AccessDenied, Action, Purpose
from coffre.identity import Actor
from coffre.journal.entries import Entry, EventKind, Outcome, Record
from coffre.journal.service import (
    Filter,
    append,
    catch_up,
    count_records,
    entry_bytes,
    select_records,
)
from coffre.store import UnitOfWork


def open_export(
    uow: UnitOfWork, reader: UnitOfWork, actor: Actor, where: Filter
) -> tuple[int, Iterator[Record]]:
    """(count, records) of the entries matching `where`, oldest first, after an allowing
    decision is journaled in `uow`; raise AccessDenied (journaled) otherwise. The records are
    read through `reader` (a read-only unit of work): iterate them to the end, or close them."""
    decision = access.decide(actor, Action.EXPORT_JOURNAL, Purpose.AUDIT)
    scope = tuple(
        f"{name}:{value}"
        for name, value in (
            ("since", where.since),
            ("patient", where.patient_id),
            ("actor", where.actor_id),
        )
        if value
    )
    patients = (where.patient_id,) if where.patient_id else ()
    outcome = Outcome.SUCCESS if decision.allowed else Outcome.DENIED
    with uow:
        catch_up(uow)
        append(
            uow,
            [
                Entry(
                    EventKind.JOURNAL_EXPORT,
                    actor,
                    decision,
                    outcome,
                    Purpose.AUDIT,
                    patients,
                    scope,
                )
            ],
        )
        uow.commit()
    if not decision.allowed:
        raise AccessDenied(decision.rule, decision.explanation)
    with reader:
        total = count_records(reader, where)

    def records() -> Iterator[Record]:
        with reader:
            yield from select_records(reader, where)

    return total, records()


def read_for_proof(uow: UnitOfWork, actor: Actor, seq: int, tree_size: int) -> bytes:
    """The canonical bytes of entry `seq`, for an inclusion proof in a tree of `tree_size`,
    after an allowing decision is journaled (as an export of that one entry); raise
    AccessDenied (journaled) otherwise, or JournalError if there is no such entry."""
    decision = access.decide(actor, Action.EXPORT_JOURNAL, Purpose.AUDIT)
    outcome = Outcome.SUCCESS if decision.allowed else Outcome.DENIED
    scope = (f"proof:entry:{seq}", f"proof:size:{tree_size}")
    with uow:
        data = entry_bytes(uow, seq)
        append(
            uow,
            [Entry(EventKind.JOURNAL_EXPORT, actor, decision, outcome, Purpose.AUDIT, (), scope)],
        )
        uow.commit()
    if not decision.allowed:
        raise AccessDenied(decision.rule, decision.explanation)
    return data
