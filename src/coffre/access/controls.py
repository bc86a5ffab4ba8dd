"""Who may change a patient's choices (consent, relationships, exclusions, masks), or look
at their care relationships: pure decisions, with no clock and no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from coffre.access.care import (
    NOT_ALLOWED,
    CareRequest,
    Durations,
    PatientFacts,
    RelationshipKind,
    decide_care,
)
from coffre.access.flags import marked
from coffre.access.matrix import Category, Profession
from coffre.access.policy import Action, Decision, Purpose, decide
from coffre.access.scope import _facts_of, professional_of
from coffre.access.tokens import decide_token
from coffre.identity import Actor, ActorKind

# Relationships a professional starts through their own work; a declaration is the
# patient's, a referral needs the referrer's own relationship.
_STARTED_BY_CARE = frozenset(
    {
        RelationshipKind.GENERAL_PRACTITIONER,
        RelationshipKind.APPOINTMENT,
        RelationshipKind.ADMISSION,
        RelationshipKind.TELECONSULTATION,
    }
)
_BOOKED_BY_STAFF = frozenset(
    {RelationshipKind.APPOINTMENT, RelationshipKind.ADMISSION, RelationshipKind.TELECONSULTATION}
)


class Control(StrEnum):
    CONSENT = "consent"
    EXCLUSION = "exclusion"
    MASK = "mask"
    START_RELATIONSHIP = "start-relationship"
    END_RELATIONSHIP = "end-relationship"
    LIST_RELATIONSHIPS = "list-relationships"
    LIST_CHOICES = "list-choices"  # consent, exclusions, masks: the patient's alone
    # Replacing the choices as a whole (the API's update of the Consent); each change in it
    # is then decided as its own control.
    UPDATE_CHOICES = "update-choices"


@dataclass(frozen=True)
class ControlRequest:
    """A change to (or a look at) a patient's sharing choices and care relationships.

    For relationships, `subject_id` is the professional or care team concerned and
    `colleague` tells whether it belongs to the actor's own organisation."""

    control: Control
    purpose: Purpose | None
    relationship_kind: RelationshipKind | None = None
    subject_id: str | None = None
    colleague: bool = False


# What a token must allow for each control: the FHIR resource it stands for, and the
# operation (the API gives consent by creating a Consent, lists choices by searching,
# replaces them by updating it).
_SCOPES: dict[Control, tuple[str, str]] = {
    Control.CONSENT: ("Consent", "c"),
    Control.EXCLUSION: ("Consent", "u"),
    Control.MASK: ("Consent", "u"),
    Control.LIST_CHOICES: ("Consent", "s"),
    Control.UPDATE_CHOICES: ("Consent", "u"),
    Control.START_RELATIONSHIP: ("EpisodeOfCare", "c"),
    Control.END_RELATIONSHIP: ("EpisodeOfCare", "u"),
    Control.LIST_RELATIONSHIPS: ("EpisodeOfCare", "s"),
}

_PATIENT_CONTROLS = frozenset(
    {
        Control.CONSENT,
        Control.EXCLUSION,
        Control.MASK,
        Control.END_RELATIONSHIP,
        Control.LIST_RELATIONSHIPS,
        Control.LIST_CHOICES,
        Control.UPDATE_CHOICES,
    }
)


def decide_control(
    actor: Actor,
    request: ControlRequest,
    facts: PatientFacts,
    now: datetime,
    *,
    durations: Durations | None = None,
) -> Decision:
    """Who may change a patient's choices: the patient; the operator at the patient's
    request; a professional for the relationships their own care creates. A token must
    allow the control's resource and operation first. The decision carries the record's
    flags and the actor's relatives among its facts (`flags.marked`)."""
    return marked(_decide_control(actor, request, facts, now, durations=durations), facts)


def _decide_control(
    actor: Actor,
    request: ControlRequest,
    facts: PatientFacts,
    now: datetime,
    *,
    durations: Durations | None,
) -> Decision:
    resource, operation = _SCOPES[request.control]
    refused = decide_token(actor, (resource,), operation)
    if refused is not None:
        return refused
    base = {
        **_facts_of(actor, Action.CONTROL, request.purpose),
        "control": request.control.value,
    }
    if request.relationship_kind is not None:
        base["relationship"] = request.relationship_kind.value
    if actor.kind is ActorKind.OPERATOR:
        return decide(actor, Action.CONTROL, request.purpose, facts.patient_id)
    if actor.role == "patient" and actor.kind is ActorKind.ACCOUNT:
        own = actor.patient_id == facts.patient_id
        if own and (
            request.control in _PATIENT_CONTROLS
            or (
                request.control is Control.START_RELATIONSHIP
                and request.relationship_kind is RelationshipKind.DECLARATION
            )
        ):
            return Decision(
                True, "patient-own-choice", "a patient decides who shares their data", base
            )
        return Decision(
            False,
            "patient-own-choice",
            "a patient may change their own sharing choices only",
            base,
        )
    professional = professional_of(actor)
    if professional is None:
        return Decision(
            False, "default-deny", "no rule allows this actor to change a patient's choices", base
        )
    if professional.account_id in facts.excluded:
        return Decision(False, "patient-exclusion", NOT_ALLOWED, base, disclosed=False)
    own = request.subject_id == professional.account_id or (
        request.subject_id in professional.care_team_ids
    )
    staff = professional.profession is Profession.ADMINISTRATIVE
    kind = request.relationship_kind
    if request.control is Control.START_RELATIONSHIP and kind is not None:
        if staff and kind in _BOOKED_BY_STAFF and request.colleague:
            return Decision(
                True,
                "staff-booking",
                f"staff may record a {kind.value} with a professional of their organisation",
                base,
            )
        if not staff and own and kind in _STARTED_BY_CARE:
            return Decision(
                True,
                "professional-care",
                f"a professional records the {kind.value} they provide",
                base,
            )
        if not staff and kind is RelationshipKind.REFERRAL:
            referrer = decide_care(
                CareRequest(professional, frozenset({Category.IDENTITY})),
                facts,
                now,
                durations=durations,
            )
            if referrer.allowed and referrer.rule == "care-relationship":
                return Decision(
                    True,
                    "referral",
                    "a professional in care of the patient refers them to another",
                    {**base, "referrer_relationship": referrer.facts["relationship"]},
                )
            return Decision(
                False,
                "referral",
                "only a professional with consent and an active care relationship may refer",
                base,
            )
    if request.control is Control.END_RELATIONSHIP and (own or (staff and request.colleague)):
        return Decision(
            True,
            "professional-care",
            "a professional (or their organisation's staff) ends the care they provide",
            base,
        )
    return Decision(
        False,
        "patient-own-choice",
        "only the patient, or the operator at their request, may see or change these choices",
        base,
    )
