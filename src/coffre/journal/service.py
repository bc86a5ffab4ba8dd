"""Appending to the journal, inside the caller's transaction (fail-closed)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from coffre.journal.entries import ENTRY_VERSION, Entry, canonical_bytes, leaf_hash, timestamp
from coffre.journal.errors import JournalError, JournalWriteFailed
from coffre.journal.tables import journal_entries, journal_head, journal_patients
from coffre.store import UnitOfWork

_FAILED = "The journal could not be written, so the operation was cancelled."

# Built once: every audited operation runs them.
_RESERVE = (
    journal_head.update()
    .where(journal_head.c.id == 1)
    .values(size=journal_head.c.size + sa.bindparam("count"))
    .returning(journal_head.c.size)
)
_INSERT_ENTRIES = journal_entries.insert()
_INSERT_LINKS = journal_patients.insert()


def _row(entry: Entry) -> dict[str, object]:
    decision = entry.decision
    return {
        "entry_version": ENTRY_VERSION,
        "recorded_at": entry.recorded_at,
        "recorded_at_text": timestamp(entry.recorded_at),
        "actor_kind": entry.actor.kind.value,
        "actor_id": entry.actor.id,
        "organisation_id": entry.actor.organisation_id,
        "session_id": entry.actor.session_id,
        "source": entry.actor.source,
        "action": entry.kind.value,
        "purpose": entry.purpose.value if entry.purpose is not None else None,
        "patient_list": list(entry.patient_ids),
        "resource_list": list(entry.resource_ids),
        "decision": "allow" if decision.allowed else "deny",
        "rule": decision.rule,
        "explanation": decision.explanation,
        "outcome": entry.outcome.value,
    }


def append(uow: UnitOfWork, entries: Sequence[Entry]) -> list[int]:
    """Append entries in the caller's open transaction and return their sequence numbers.

    Raises JournalWriteFailed if anything fails; the caller's transaction must then roll back
    (leaving the unit of work uncommitted does that), so the operation never happens unjournaled.
    """
    if not entries:
        return []
    conn = uow.connection
    try:
        # The head row is the one place sequence numbers come from: incrementing it locks it
        # until commit, so concurrent appenders queue and the numbering has no gaps.
        size = conn.execute(_RESERVE, {"count": len(entries)}).scalar_one()
        first = int(size) - len(entries)
        rows = []
        links = []
        for offset, entry in enumerate(entries):
            seq = first + offset
            row = _row(entry)
            rows.append(
                {
                    **{k: v for k, v in row.items() if not k.endswith(("_text", "_list"))},
                    "seq": seq,
                    "patient_ids": json.dumps(row["patient_list"]),
                    "resource_ids": json.dumps(row["resource_list"]),
                    "leaf_hash": leaf_hash(canonical_bytes(seq, row)),
                }
            )
            links.extend({"patient_id": p, "seq": seq} for p in dict.fromkeys(entry.patient_ids))
        conn.execute(_INSERT_ENTRIES, rows)
        if links:
            conn.execute(_INSERT_LINKS, links)
    except (SQLAlchemyError, ValueError) as exc:
        raise JournalWriteFailed(_FAILED) from exc
    return list(range(first, first + len(entries)))


def entry_bytes(uow: UnitOfWork, seq: int) -> tuple[bytes, bytes]:
    """(canonical bytes recomputed from the stored columns, stored leaf hash) of entry `seq`;
    raise JournalError if there is no such entry."""
    row = uow.connection.execute(
        sa.select(journal_entries).where(journal_entries.c.seq == seq)
    ).first()
    if row is None:
        raise JournalError(f"The journal has no entry {seq}.")
    fields = dict(row._mapping)
    fields["recorded_at_text"] = timestamp(row.recorded_at)
    fields["patient_list"] = json.loads(row.patient_ids)
    fields["resource_list"] = json.loads(row.resource_ids)
    return canonical_bytes(seq, fields), bytes(row.leaf_hash)


def size(uow: UnitOfWork) -> int:
    """The number of entries in the journal."""
    return int(
        uow.connection.execute(
            sa.select(journal_head.c.size).where(journal_head.c.id == 1)
        ).scalar_one()
    )


def entries_for_patient(uow: UnitOfWork, patient_id: str) -> list[dict[str, object]]:
    """Every entry naming the patient, oldest first, as plain values (ids only)."""
    rows = uow.connection.execute(
        sa.select(journal_entries)
        .join(journal_patients, journal_patients.c.seq == journal_entries.c.seq)
        .where(journal_patients.c.patient_id == patient_id)
        .order_by(journal_entries.c.seq)
    ).all()
    return [
        {
            "seq": r.seq,
            "recorded_at": timestamp(r.recorded_at),
            "actor_kind": r.actor_kind,
            "actor_id": r.actor_id,
            "organisation_id": r.organisation_id,
            "source": r.source,
            "action": r.action,
            "purpose": r.purpose,
            "decision": r.decision,
            "rule": r.rule,
            "explanation": r.explanation,
            "outcome": r.outcome,
        }
        for r in rows
    ]
