"""The access gate: every operation on patient data asks `decide` (or, for professionals,
`decide_care`) first, and gets a decision with its explanation."""

from coffre.access.care import (
    BreakGlass,
    CareRequest,
    Durations,
    EmergencyReason,
    PatientFacts,
    Professional,
    Relationship,
    RelationshipKind,
    decide_care,
)
from coffre.access.errors import AccessDenied, AccessError
from coffre.access.matrix import (
    CLINICAL,
    Category,
    InvalidMatrix,
    Matrix,
    Profession,
    default_matrix,
    parse_matrix,
)
from coffre.access.policy import Action, Decision, Purpose, decide

__all__ = [
    "CLINICAL",
    "AccessDenied",
    "AccessError",
    "Action",
    "BreakGlass",
    "CareRequest",
    "Category",
    "Decision",
    "Durations",
    "EmergencyReason",
    "InvalidMatrix",
    "Matrix",
    "PatientFacts",
    "Profession",
    "Professional",
    "Purpose",
    "Relationship",
    "RelationshipKind",
    "decide",
    "decide_care",
    "default_matrix",
    "parse_matrix",
]
