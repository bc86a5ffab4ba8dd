"""The patient vault: the only module that reads or writes sealed patient data.

Every function here that touches patient data asks `access` and appends to `journal` in the
same transaction, denials included; a test walks this list to keep it so.
"""

from coffre.records.categories import Category, ErasureReason
from coffre.records.choices import Choices, change_choices, read_choices
from coffre.records.clinical import DocumentInfo, add_clinical_entry
from coffre.records.controls import (
    RelationshipView,
    end_relationship,
    list_relationships,
    set_consent,
    set_exclusion,
    set_mask,
    start_relationship,
)
from coffre.records.emergency import break_glass
from coffre.records.errors import (
    ContentTypeMismatch,
    DocumentNotFound,
    DocumentTooLarge,
    DuplicatePatient,
    EntryNotFound,
    ImportSourceChanged,
    InvalidChoice,
    InvalidImport,
    InvalidQuery,
    InvalidResource,
    LineError,
    NothingToChange,
    PatientErased,
    PatientNotFound,
    RecordsError,
    SignUpRefused,
    UnknownChoice,
    UploadInterrupted,
    VersionConflict,
    VersionNotKept,
)
from coffre.records.export import ExportSummary, export_patient
from coffre.records.fhir import INSZ_SYSTEM, NIR_SYSTEM, parse_patient, valid_insz, valid_nir
from coffre.records.filing import add_document
from coffre.records.flags import flag_patient
from coffre.records.governance import (
    add_account,
    add_care_team,
    add_contract,
    add_organisation,
    change_care_team,
    end_contract,
    set_organisation_matrix,
    set_personal_digests,
)
from coffre.records.guard import Guard, GuardLimits
from coffre.records.importing import ImportReport, import_patients
from coffre.records.insurers import (
    Eligibility,
    Member,
    Usage,
    check_eligibility,
    enrol_members,
    usage_figures,
)
from coffre.records.keys import rotate_keys
from coffre.records.patients import (
    FindCriteria,
    erase_patient,
    find_patients,
    read_patient,
    reconcile_erasures,
    update_patient,
)
from coffre.records.reading import (
    EntryView,
    PatientRecord,
    open_document,
    read_document,
    read_record,
)
from coffre.records.registering import register_patient
from coffre.records.searching import (
    Page,
    read_entry,
    search_documents,
    search_entries,
    search_patients,
)
from coffre.records.signup import SIGN_UP_FLOOR, SignUpKeys, complete_sign_up, request_sign_up
from coffre.records.vault import Vault, VaultSettings

__all__ = [
    "INSZ_SYSTEM",
    "NIR_SYSTEM",
    "SIGN_UP_FLOOR",
    "Category",
    "Choices",
    "ContentTypeMismatch",
    "DocumentInfo",
    "DocumentNotFound",
    "DocumentTooLarge",
    "DuplicatePatient",
    "Eligibility",
    "EntryNotFound",
    "EntryView",
    "ErasureReason",
    "ExportSummary",
    "FindCriteria",
    "Guard",
    "GuardLimits",
    "ImportReport",
    "ImportSourceChanged",
    "InvalidChoice",
    "InvalidImport",
    "InvalidQuery",
    "InvalidResource",
    "LineError",
    "Member",
    "NothingToChange",
    "Page",
    "PatientErased",
    "PatientNotFound",
    "PatientRecord",
    "RecordsError",
    "RelationshipView",
    "SignUpKeys",
    "SignUpRefused",
    "UnknownChoice",
    "UploadInterrupted",
    "Usage",
    "Vault",
    "VaultSettings",
    "VersionConflict",
    "VersionNotKept",
    "add_account",
    "add_care_team",
    "add_clinical_entry",
    "add_contract",
    "add_document",
    "add_organisation",
    "break_glass",
    "change_care_team",
    "change_choices",
    "check_eligibility",
    "complete_sign_up",
    "end_contract",
    "end_relationship",
    "enrol_members",
    "erase_patient",
    "export_patient",
    "find_patients",
    "flag_patient",
    "import_patients",
    "list_relationships",
    "open_document",
    "parse_patient",
    "read_choices",
    "read_document",
    "read_entry",
    "read_patient",
    "read_record",
    "reconcile_erasures",
    "register_patient",
    "request_sign_up",
    "rotate_keys",
    "search_documents",
    "search_entries",
    "search_patients",
    "set_consent",
    "set_exclusion",
    "set_mask",
    "set_organisation_matrix",
    "set_personal_digests",
    "start_relationship",
    "update_patient",
    "usage_figures",
    "valid_insz",
    "valid_nir",
]
