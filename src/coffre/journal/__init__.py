"""The access journal: every operation on patient data, appended in its own transaction."""

from coffre.journal.entries import Entry, EventKind, Outcome, canonical_bytes, leaf_hash
from coffre.journal.errors import JournalError, JournalWriteFailed
from coffre.journal.service import append, entries_for_patient, entry_bytes, size

__all__ = [
    "Entry",
    "EventKind",
    "JournalError",
    "JournalWriteFailed",
    "Outcome",
    "append",
    "canonical_bytes",
    "entries_for_patient",
    "entry_bytes",
    "leaf_hash",
    "size",
]
