"""The IHE Basic Audit Log Patterns (BALP) as journal/export.py applies them: the codes,
the pattern of each kind of entry, and the purposes and outcomes as FHIR codes."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from coffre.access import Purpose
from coffre.journal.entries import EventKind, Outcome

BALP = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit."
THO = "http://terminology.hl7.org/CodeSystem/"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
RESTFUL = "http://hl7.org/fhir/restful-interaction"
ACT_REASON = THO + "v3-ActReason"

Code = tuple[str, str, str]  # system, code, display
Progress = Callable[[int], None] | None  # called with the count written so far

_REST: Code = (THO + "audit-event-type", "rest", "RESTful Operation")
_SOURCE: Code = (DCM, "110153", "Source Role ID")
_DESTINATION: Code = (DCM, "110152", "Destination Role ID")
_APPLICATION: Code = (DCM, "110150", "Application")
_CUSTODIAN: Code = (THO + "provenance-participant-type", "custodian", "Custodian")
_IRCP: Code = (THO + "v3-ParticipationType", "IRCP", "information recipient")
_AUTHOR: Code = (THO + "v3-ParticipationType", "AUT", "author (originator)")
_CST: Code = (THO + "v3-ParticipationType", "CST", "custodian")
_DISCLOSE: Code = (THO + "iso-21089-lifecycle", "disclose", "Disclose Record Lifecycle Event")
_PERSON: Code = (THO + "audit-entity-type", "1", "Person")
_SYSTEM_OBJECT: Code = (THO + "audit-entity-type", "2", "System Object")
_OTHER: Code = (THO + "audit-entity-type", "4", "Other")
_PATIENT: Code = (THO + "object-role", "1", "Patient")
_DOMAIN_RESOURCE: Code = (THO + "object-role", "4", "Domain Resource")
_QUERY: Code = (THO + "object-role", "24", "Query")
_APP_SERVER: Code = (THO + "security-source-type", "4", "Application Server")
_PROVIDER: Code = (THO + "v3-RoleClass", "PROV", "healthcare provider")
_ACTOR, _SOURCE_ID = "urn:coffre:actor", "urn:coffre:source"


class _Pattern(NamedTuple):
    profiles: tuple[str | None, str | None]  # BALP profile without, with patients
    type: Code
    subtypes: tuple[Code, ...]
    action: str
    user: Code  # agent types: the actor, the client it came from, the server
    client: Code
    server: Code
    terms: bool = False  # resource ids are query terms (the journal export's scope)


def _ri(code: str) -> Code:
    return (RESTFUL, code, code)


def _p(name: str) -> tuple[str, str]:
    return (name, "Patient" + name)


_LOGIN = (DCM, "110114", "User Authentication")
_HUMAN: Code = (THO + "extra-security-role-type", "humanuser", "Human User")
_READ = _Pattern(_p("Read"), _REST, (_ri("read"),), "R", _IRCP, _DESTINATION, _SOURCE)
_CREATE = _Pattern(_p("Create"), _REST, (_ri("create"),), "C", _AUTHOR, _SOURCE, _DESTINATION)
_UPDATE = _Pattern(_p("Update"), _REST, (_ri("update"),), "U", _AUTHOR, _SOURCE, _DESTINATION)
_DELETE = _Pattern(_p("Delete"), _REST, (_ri("delete"),), "D", _AUTHOR, _APPLICATION, _CUSTODIAN)
_PATTERNS: dict[str, _Pattern] = {
    EventKind.PATIENT_CREATE: _CREATE,
    EventKind.PATIENT_SEARCH: _Pattern(
        _p("Query"), _REST, (_ri("search-type"),), "E", _IRCP, _SOURCE, _DESTINATION
    ),
    EventKind.PATIENT_READ: _READ,
    EventKind.PATIENT_UPDATE: _UPDATE,
    # Export to the data subject is a disclosure recorded at its source: its `source` agent
    # is the server (who = source.observer), its `recipient` the client the data went to.
    EventKind.PATIENT_EXPORT: _Pattern(
        (None, "PrivacyDisclosure.Source"),
        (DCM, "110106", "Export"),
        (_DISCLOSE, _ri("read")),
        "R",
        _CST,
        _DESTINATION,
        _SOURCE,
    ),
    EventKind.PATIENT_ERASE: _DELETE,
    EventKind.PATIENT_IMPORT: _CREATE,
    EventKind.ENTRY_CREATE: _CREATE,
    EventKind.DOCUMENT_CREATE: _CREATE,
    EventKind.DOCUMENT_READ: _READ,
    EventKind.RECORD_READ: _READ,
    EventKind.HISTORY_READ: _READ,
    EventKind.MEMBER_ENROL: _CREATE,
    EventKind.ELIGIBILITY_READ: _READ,
    EventKind.USAGE_READ: _READ,
    EventKind.PATIENT_FLAG: _UPDATE,
    EventKind.CONSENT_UPDATE: _UPDATE,
    EventKind.RELATIONSHIP_CREATE: _CREATE,
    EventKind.RELATIONSHIP_END: _UPDATE,
    EventKind.RELATIONSHIP_LIST: _READ,
    EventKind.CONSENT_READ: _READ,
    EventKind.EXCLUSION_UPDATE: _UPDATE,
    EventKind.MASK_UPDATE: _UPDATE,
    EventKind.BREAK_GLASS: _CREATE,
    # Journal export for an audit: data leaving the system (DCM 110106 Export, as ATNA's
    # export message) but no disclosure to name, so no BALP profile; its scope as queries.
    EventKind.JOURNAL_EXPORT: _Pattern(
        (None, None), (DCM, "110106", "Export"), (), "R", _IRCP, _DESTINATION, _SOURCE, True
    ),
    EventKind.KEY_ROTATE: _UPDATE,
    EventKind.KEY_RECONCILE: _DELETE,
    EventKind.LOGIN: _Pattern(
        (None, None), _LOGIN, ((DCM, "110122", "Login"),), "E", _HUMAN, _SOURCE, _DESTINATION
    ),
    EventKind.SESSION_END: _UPDATE,
    EventKind.MFA_UPDATE: _UPDATE,
    EventKind.PASSWORD_UPDATE: _UPDATE,
    EventKind.ACCOUNT_SUSPEND: _UPDATE,
    EventKind.ACCOUNT_RESUME: _UPDATE,
    EventKind.ACCOUNT_UPDATE: _UPDATE,
    EventKind.ACCOUNT_CREATE: _CREATE,
    # A patient's sign-up: a query of the e-mail index, whatever it found.
    EventKind.SIGN_UP_REQUEST: _Pattern(
        _p("Query"), _REST, (_ri("search-type"),), "E", _IRCP, _SOURCE, _DESTINATION
    ),
    EventKind.CLIENT_CREATE: _CREATE,
    EventKind.CLIENT_UPDATE: _UPDATE,
    # A read refused at the client's volume ceiling.
    EventKind.CLIENT_CEILING: _READ,
    EventKind.TOKEN_CREATE: _CREATE,
    EventKind.TOKEN_UPDATE: _UPDATE,
    EventKind.ORGANISATION_CREATE: _CREATE,
    EventKind.TEAM_CREATE: _CREATE,
    EventKind.TEAM_UPDATE: _UPDATE,
    EventKind.MATRIX_UPDATE: _UPDATE,
    EventKind.CONTRACT_CREATE: _CREATE,
    EventKind.CONTRACT_UPDATE: _UPDATE,
    EventKind.ALERT_CREATE: _CREATE,
    EventKind.ALERT_UPDATE: _UPDATE,
    EventKind.ALERT_READ: _READ,
    EventKind.IMPORT_CREATE: _CREATE,
    # A read refused by the inline guard (too many distinct patients in the window).
    EventKind.GUARD_STOP: _READ,
    EventKind.LOGOUT: _Pattern(
        (None, None), _LOGIN, ((DCM, "110123", "Logout"),), "E", _HUMAN, _SOURCE, _DESTINATION
    ),
}

# Purposes as v3-ActReason (PurposeOfUse) codes; None: no code fits, the Coffre code alone.
_PURPOSES: dict[str, tuple[str, str] | None] = {
    Purpose.CARE: ("TREAT", "treatment"),
    Purpose.SUBJECT_ACCESS: ("PATRQT", "patient requested"),
    Purpose.ERASURE: ("RECORDMGT", "records management"),
    Purpose.IMPORT: ("RECORDMGT", "records management"),
    Purpose.IDENTIFICATION: None,
    Purpose.KEY_MANAGEMENT: ("HSYSADMIN", "health system administration"),
    Purpose.DEMO: ("HTEST", "test health data"),
    Purpose.AUDIT: ("HCOMPL", "health compliance"),
    Purpose.PATIENT_REQUEST: ("PATRQT", "patient requested"),
    Purpose.BREAK_GLASS: ("ETREAT", "Emergency Treatment"),
    Purpose.INSURANCE: ("COVERAGE", "coverage under policy or program"),
    Purpose.CONTRACT: ("HOPERAT", "healthcare operations"),
    Purpose.SECURITY: ("HSYSADMIN", "health system administration"),
}
_OUTCOMES = {Outcome.SUCCESS: "0", Outcome.DENIED: "4", Outcome.FAILED: "8"}
