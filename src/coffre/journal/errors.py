"""Errors of the journal.

JournalError
 └── JournalWriteFailed   the entry could not be appended; the operation is cancelled
"""

from coffre.errors import CoffreError


class JournalError(CoffreError):
    """The journal cannot be used."""


class JournalWriteFailed(JournalError):
    """Appending failed, so the operation it records did not happen."""
