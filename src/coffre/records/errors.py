"""Errors of the patient vault.

RecordsError
 ├── PatientNotFound       no patient with that id (or not visible to the caller)
 ├── PatientErased         the patient was erased; only the tombstone remains
 ├── DocumentNotFound      no document with that id
 ├── VersionNotKept        a patient's version other than the current one (not kept)
 ├── NothingToChange       a patient's choice is already as asked
 ├── InvalidChoice         a patient's choice names something that cannot be chosen
 │    └── UnknownChoice    it names a professional or document this patient cannot choose
 ├── MemberNotFound        no member of the insurer has that member id
 ├── InvalidImport         an import file has invalid lines; nothing was imported
 ├── ImportSourceChanged   the import file changed between checking and importing
 ├── InvalidResource       one resource is not valid FHIR R4 or breaks a Coffre rule
 ├── InvalidQuery          a search was asked with missing or malformed criteria
 ├── DocumentTooLarge      a document is over the configured size limit
 ├── UploadInterrupted     a document's upload could not be completed as it began
 └── ContentTypeMismatch   a document's bytes are not of the declared or an allowed type
"""

from __future__ import annotations

from dataclasses import dataclass

from coffre.errors import CoffreError


class RecordsError(CoffreError):
    """A records operation failed."""


class PatientNotFound(RecordsError):
    """No patient has that id."""


class PatientErased(RecordsError):
    """The patient was erased."""


class InvalidResource(RecordsError):
    """A resource is not valid; `path` is where, as a FHIRPath expression, when known."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class InvalidQuery(RecordsError):
    """A search was asked with missing or malformed criteria."""


class ImportSourceChanged(RecordsError):
    """The import file changed while it was read; nothing was imported."""


class DocumentTooLarge(RecordsError):
    """A document is over the size limit."""


class UploadInterrupted(RecordsError):
    """The patient's record changed (organisation or key) while a document arrived, or part
    of it was lost: it was not filed, and may be sent again."""


class ContentTypeMismatch(RecordsError):
    """A document's content does not match its type."""


@dataclass(frozen=True)
class LineError:
    line: int
    reason: str


class InvalidImport(RecordsError):
    """An import file has invalid lines; nothing was imported."""

    def __init__(self, errors: list[LineError]) -> None:
        count = len(errors)
        super().__init__(
            f"{count} line{'s' if count != 1 else ''} of the file "
            f"{'are' if count != 1 else 'is'} invalid, so nothing was imported."
        )
        self.errors = errors


class VersionNotKept(RecordsError):
    """A version of the patient other than the current one was asked for: earlier
    versions are replaced, not kept."""


class DocumentNotFound(RecordsError):
    """No document has that id."""


class EntryNotFound(RecordsError):
    """No clinical entry has that id."""


class NothingToChange(RecordsError):
    """The patient's choice is already as asked (nothing was recorded)."""


class InvalidChoice(RecordsError):
    """The choice names a professional, team or relationship that cannot be chosen."""


class UnknownChoice(InvalidChoice):
    """Among the choices asked, one names no professional, or no document of this patient
    (`subject_id` is the id as it was given)."""

    def __init__(self, message: str, subject_id: str) -> None:
        super().__init__(message)
        self.subject_id = subject_id


class SignUpRefused(RecordsError):
    """A sign-up link cannot be used (unknown, used, expired, or its record gone or
    already with an account)."""

    exit_code = 3


class VersionConflict(RecordsError):
    """The record changed since the version the caller based its change on."""


class DuplicatePatient(RecordsError):
    """The organisation already holds a patient with the same national identifier."""
