"""The categories patient data is divided into; access decisions name them."""

from enum import StrEnum


class Category(StrEnum):
    IDENTITY = "identity"
    CONTACT = "contact"
    ADMINISTRATIVE = "administrative"
    APPOINTMENTS = "appointments"
    REASON = "reason"
    CLINICAL_NOTES = "clinical-notes"
    RESULTS = "results"
    PRESCRIPTIONS = "prescriptions"
    MENTAL_HEALTH = "mental-health"
    SEXUAL_HEALTH = "sexual-health"
    DOCUMENTS = "documents"


class ErasureReason(StrEnum):
    """Why a patient was erased; a code, so no free text (and no name) reaches the database."""

    SUBJECT_REQUEST = "subject-request"  # GDPR Art. 17 request by the patient
    RETENTION_ENDED = "retention-ended"  # the legal retention period is over
    DUPLICATE = "duplicate"  # the record duplicates another
    WRONG_PATIENT = "wrong-patient"  # data filed under the wrong person
    TEST_DATA = "test-data"  # not a real person
