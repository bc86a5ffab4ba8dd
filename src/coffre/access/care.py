"""Access to a patient's data by professionals: the Belgian eHealth model, as pure decisions.

A professional reads (or writes) a category of a patient's data only when, all at once:

1. the professional is not excluded by the patient (an excluded professional gets nothing,
   not even in an emergency, and is told only "not allowed");
2. either the patient consents to sharing AND the professional (or one of their care teams)
   has an active care relationship with the patient, or the professional holds a live
   break-the-glass grant for this patient;
3. the profession × category matrix (narrowed by the organisation, never widened) allows it;
4. for a document: the patient has not masked it, unless the professional is its author.

Everything here is a pure function of its arguments: no clock, no database, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from coffre.access.matrix import Category, Matrix, Profession, default_matrix
from coffre.access.policy import Decision, a_or_an


class RelationshipKind(StrEnum):
    GENERAL_PRACTITIONER = "general-practitioner"  # the patient's GP (global medical record)
    APPOINTMENT = "appointment"
    ADMISSION = "admission"
    TELECONSULTATION = "teleconsultation"
    REFERRAL = "referral"
    DECLARATION = "declaration"  # declared by the patient themselves


class EmergencyReason(StrEnum):
    LIFE_THREATENING = "life-threatening"
    PATIENT_UNCONSCIOUS = "patient-unconscious"
    URGENT_CARE = "urgent-care"


DEFAULT_DURATIONS: Mapping[RelationshipKind, timedelta] = {
    RelationshipKind.GENERAL_PRACTITIONER: timedelta(days=456),  # about 15 months
    RelationshipKind.APPOINTMENT: timedelta(days=90),
    RelationshipKind.ADMISSION: timedelta(days=30),  # after discharge
    RelationshipKind.TELECONSULTATION: timedelta(days=7),
    RelationshipKind.REFERRAL: timedelta(days=183),
    RelationshipKind.DECLARATION: timedelta(days=456),
}


@dataclass(frozen=True)
class Durations:
    """How long each kind of relationship lasts after it starts (admissions: after discharge);
    kinds not configured keep their default. Break-the-glass never lasts longer than
    `break_glass`, whatever a grant says."""

    by_kind: Mapping[RelationshipKind, timedelta] = field(default_factory=dict)
    break_glass: timedelta = timedelta(hours=4)

    def of(self, kind: RelationshipKind) -> timedelta:
        return self.by_kind.get(kind, DEFAULT_DURATIONS[kind])


@dataclass(frozen=True)
class Relationship:
    """A care relationship of one professional, or of a care team, with the patient."""

    kind: RelationshipKind
    started_at: datetime
    professional_id: str | None = None
    care_team_id: str | None = None
    ended_at: datetime | None = None  # discharge for admissions; an explicit end otherwise
    id: str | None = None  # as stored

    def active(self, now: datetime, durations: Durations) -> bool:
        if now < self.started_at:
            return False
        duration = durations.of(self.kind)
        if self.kind is RelationshipKind.ADMISSION:
            # Until discharge, then for the follow-up period.
            return self.ended_at is None or now < self.ended_at + duration
        if self.ended_at is not None and now >= self.ended_at:
            return False
        return now < self.started_at + duration


@dataclass(frozen=True)
class BreakGlass:
    professional_id: str
    started_at: datetime
    expires_at: datetime
    reason: EmergencyReason
    id: str | None = None  # as stored

    def live(self, now: datetime, longest: timedelta) -> bool:
        return self.started_at <= now < min(self.expires_at, self.started_at + longest)


@dataclass(frozen=True)
class Professional:
    """The actor, as the policy needs to know them."""

    account_id: str
    profession: Profession
    care_team_ids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class PatientFacts:
    """Everything about one patient the decision needs, loaded together."""

    patient_id: str
    consent: bool = False
    relationships: tuple[Relationship, ...] = ()
    excluded: frozenset[str] = frozenset()  # account ids of excluded professionals
    masked_documents: Mapping[str, str | None] = field(default_factory=dict)  # id -> author
    break_glass: tuple[BreakGlass, ...] = ()
    flags: tuple[str, ...] = ()  # the record's flags, sorted: vip, staff
    # What the acting person shares with the patient, compared by blind-index digest:
    # "family" (the family name), "address" (the postal address).
    shared_with_actor: frozenset[str] = frozenset()


@dataclass(frozen=True)
class CareRequest:
    professional: Professional
    categories: frozenset[Category]
    writing: bool = False
    document_id: str | None = None


NOT_ALLOWED = "not allowed"

# Matrices already narrowed to the default, by id; each is kept alive here, so its id is
# not reused while it is known.
_NARROWED: dict[int, tuple[Matrix, Matrix]] = {}
_NARROWED_MAX = 256


def _within_default(matrix: Matrix | None) -> Matrix:
    """The matrix narrowed to the default (the default itself when none is given)."""
    default = default_matrix()
    if matrix is None or matrix is default:
        return default
    known = _NARROWED.get(id(matrix))
    if known is not None:
        return known[1]
    narrowed = default.narrowed(matrix)
    if len(_NARROWED) < _NARROWED_MAX:
        _NARROWED[id(matrix)] = (matrix, narrowed)
    return narrowed


def decide_care(
    request: CareRequest,
    facts: PatientFacts,
    now: datetime,
    *,
    durations: Durations | None = None,
    matrix: Matrix | None = None,
) -> Decision:
    """Allow or deny a professional's read or write of some categories of one patient's data.

    The decision names the rule that decided; an excluded professional's decision is not
    disclosed to them (its explanation is only "not allowed")."""
    durations = durations or Durations()
    # An organisation's matrix only ever narrows the default.
    matrix = _within_default(matrix)
    who = request.professional
    verb = "write" if request.writing else "read"
    categories = ", ".join(sorted(request.categories)) or "nothing"
    base = {
        "profession": who.profession.value,
        "action": verb,
        "categories": categories,
        "consent": "yes" if facts.consent else "no",
    }
    if who.account_id in facts.excluded:
        return Decision(
            False, "patient-exclusion", NOT_ALLOWED, {**base, "excluded": "yes"}, disclosed=False
        )
    if not request.categories:
        return Decision(False, "default-deny", "no category of data was named", base)
    glass = next(
        (
            g
            for g in facts.break_glass
            if g.professional_id == who.account_id and g.live(now, durations.break_glass)
        ),
        None,
    )
    relationship = next(
        (
            r
            for r in facts.relationships
            if (r.professional_id == who.account_id or r.care_team_id in who.care_team_ids)
            and r.active(now, durations)
        ),
        None,
    )
    if glass is not None:
        basis = {
            **base,
            "break_glass": f"{glass.reason.value} until {glass.expires_at:%Y-%m-%dT%H:%MZ}",
        }
        rule, why = "break-the-glass", f"an emergency access ({glass.reason.value}) is live"
    elif relationship is None:
        # Before consent: a professional without a relationship learns nothing about the
        # patient, not whether they consented, nor whether the id is anyone's.
        return Decision(
            False, "no-care-relationship", "no active care relationship with this patient", base
        )
    elif not facts.consent:
        return Decision(False, "no-consent", "the patient has not consented to sharing", base)
    else:
        basis = {**base, "relationship": relationship.kind.value}
        rule = "care-relationship"
        why = f"consent and an active {relationship.kind.value} relationship"
    refused = sorted(
        c
        for c in request.categories
        if not matrix.allows(who.profession, c, writing=request.writing)
    )
    if refused:
        return Decision(
            False,
            "profession-matrix",
            f"{a_or_an(who.profession.value)} may not {verb} {', '.join(refused)}",
            basis,
        )
    if (
        request.document_id is not None
        and request.document_id in facts.masked_documents
        and facts.masked_documents[request.document_id] != who.account_id
    ):
        return Decision(
            False,
            "masked-document",
            "the patient masked this document from everyone but its author",
            {**basis, "document": request.document_id, "masked": "yes"},
        )
    return Decision(
        True, rule, f"{why} allows {a_or_an(who.profession.value)} to {verb} {categories}", basis
    )
