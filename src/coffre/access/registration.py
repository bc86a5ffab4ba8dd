"""Registering a new patient in an organisation's records.

A new patient has no consent and no relationship yet, so the care policy cannot decide it:
registration is writing a patient's identity and contact details where none existed, which
the professions whose matrix row writes both categories (by default the administrative
staff: reception) may do, in their own organisation, for care. A token must allow creating
a Patient. Nobody else registers a patient one by one; the operator imports in bulk.
"""

from __future__ import annotations

from coffre.access.matrix import Category
from coffre.access.policy import Action, Decision, Purpose
from coffre.access.scope import professional_of, readable
from coffre.access.tokens import decide_token
from coffre.identity import Actor

REGISTERED = frozenset({Category.IDENTITY, Category.CONTACT})


def decide_registration(actor: Actor, purpose: Purpose | None) -> Decision:
    """Whether the actor may register a new patient in its own organisation."""
    refused = decide_token(actor, ("Patient",), "c")
    if refused is not None:
        return refused
    facts = {
        "actor_kind": actor.kind.value,
        "organisation_kind": actor.organisation_kind.value if actor.organisation_kind else "none",
        "action": Action.WRITE.value,
        "purpose": purpose.value if purpose is not None else "none",
    }
    professional = professional_of(actor)
    if professional is None:
        return Decision(
            False,
            "registration-role",
            "only the staff of a care or telemedicine provider register patients",
            facts,
        )
    facts["profession"] = professional.profession.value
    if purpose is not Purpose.CARE:
        return Decision(False, "registration-purpose", "a patient is registered for care", facts)
    if readable(actor, REGISTERED, writing=True) != REGISTERED:
        return Decision(
            False,
            "registration-matrix",
            f"the {professional.profession.value} profession does not write a patient's "
            "identity and contact details",
            facts,
        )
    return Decision(
        True,
        "registration",
        "a profession that writes identity and contact details may register a patient in "
        "its own organisation",
        facts,
    )
