"""The access journal: every operation on patient data, appended in its own transaction,
hash-linked in an RFC 6962 Merkle tree with signed checkpoints."""

from coffre.journal import audit, checkpoints
from coffre.journal.checkpoints import (
    Checkpoint,
    CheckpointInvalid,
    Publisher,
    Signer,
    Verifier,
    checkpoint_if_due,
    make_checkpoint,
)
from coffre.journal.entries import Entry, EventKind, Outcome, Record, decode, leaf_hash
from coffre.journal.errors import JournalError, JournalWriteFailed
from coffre.journal.export import to_audit_event
from coffre.journal.history import HistoryPage, patient_history
from coffre.journal.merkle import verify_consistency, verify_inclusion
from coffre.journal.service import (
    LINKED_AT_ONCE,
    Filter,
    append,
    behind,
    catch_up,
    count_records,
    entry_bytes,
    select_records,
    size,
    tree,
)
from coffre.journal.verify import Problem, Report, verify
from coffre.journal.workers import default_workers

__all__ = [
    "LINKED_AT_ONCE",
    "Checkpoint",
    "CheckpointInvalid",
    "Entry",
    "EventKind",
    "Filter",
    "HistoryPage",
    "JournalError",
    "JournalWriteFailed",
    "Outcome",
    "Problem",
    "Publisher",
    "Record",
    "Report",
    "Signer",
    "Verifier",
    "append",
    "audit",
    "behind",
    "catch_up",
    "checkpoint_if_due",
    "checkpoints",
    "count_records",
    "decode",
    "default_workers",
    "entry_bytes",
    "leaf_hash",
    "make_checkpoint",
    "patient_history",
    "select_records",
    "size",
    "to_audit_event",
    "tree",
    "verify",
    "verify_consistency",
    "verify_inclusion",
]
