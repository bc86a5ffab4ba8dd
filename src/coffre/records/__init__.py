"""The patient vault: the only module that reads or writes sealed patient data.

Every function here that touches patient data asks `access` and appends to `journal` in the
same transaction, denials included; a test walks this list to keep it so.
"""

from coffre.records.categories import Category, ErasureReason
from coffre.records.clinical import DocumentInfo, add_clinical_entry, add_document
from coffre.records.errors import (
    ContentTypeMismatch,
    DocumentTooLarge,
    ImportSourceChanged,
    InvalidImport,
    InvalidQuery,
    InvalidResource,
    LineError,
    PatientErased,
    PatientNotFound,
    RecordsError,
)
from coffre.records.export import ExportSummary, export_patient
from coffre.records.fhir import INSZ_SYSTEM, NIR_SYSTEM, parse_patient, valid_insz, valid_nir
from coffre.records.importing import ImportReport, import_patients
from coffre.records.keys import rotate_keys
from coffre.records.patients import (
    FindCriteria,
    erase_patient,
    find_patients,
    read_patient,
    reconcile_erasures,
)
from coffre.records.vault import Vault, VaultSettings

__all__ = [
    "INSZ_SYSTEM",
    "NIR_SYSTEM",
    "Category",
    "ContentTypeMismatch",
    "DocumentInfo",
    "DocumentTooLarge",
    "ErasureReason",
    "ExportSummary",
    "FindCriteria",
    "ImportReport",
    "ImportSourceChanged",
    "InvalidImport",
    "InvalidQuery",
    "InvalidResource",
    "LineError",
    "PatientErased",
    "PatientNotFound",
    "RecordsError",
    "Vault",
    "VaultSettings",
    "add_clinical_entry",
    "add_document",
    "erase_patient",
    "export_patient",
    "find_patients",
    "import_patients",
    "parse_patient",
    "read_patient",
    "reconcile_erasures",
    "rotate_keys",
    "valid_insz",
    "valid_nir",
]
