"""The categories patient data is divided into (defined by access, whose decisions name them),
and the codes of erasure reasons."""

from enum import StrEnum

from coffre.access.matrix import Category

__all__ = ["Category", "ErasureReason"]


class ErasureReason(StrEnum):
    """Why a patient was erased; a code, so no free text (and no name) reaches the database."""

    SUBJECT_REQUEST = "subject-request"  # GDPR Art. 17 request by the patient
    RETENTION_ENDED = "retention-ended"  # the legal retention period is over
    DUPLICATE = "duplicate"  # the record duplicates another
    WRONG_PATIENT = "wrong-patient"  # data filed under the wrong person
    TEST_DATA = "test-data"  # not a real person
