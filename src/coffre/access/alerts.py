"""Handling a detection alert: acknowledging or closing it, with a note.

An alert belongs to the organisation of the actor it is about; its security officer (or
its administrator) handles it, and the local operator may handle any. Nobody else, not
even a professional of that organisation, changes an alert's state.
"""

from __future__ import annotations

from coffre.access.policy import Decision
from coffre.identity import Actor, ActorKind

# Who may handle an organisation's alerts, besides the local operator.
ALERT_ROLES = frozenset({"security-officer", "organisation-admin"})


def decide_alert(actor: Actor, alert_organisation_id: str | None) -> Decision:
    """Whether the actor may acknowledge or close an alert of `alert_organisation_id` (None:
    an alert about an actor of no organisation, which only the local operator handles)."""
    facts = {"actor_kind": actor.kind.value}
    if actor.kind is ActorKind.OPERATOR:
        return Decision(True, "alert-handling", "the local operator may handle alerts", facts)
    if (
        actor.kind is ActorKind.ACCOUNT
        and actor.role in ALERT_ROLES
        and alert_organisation_id is not None
        and actor.organisation_id == alert_organisation_id
    ):
        return Decision(
            True,
            "alert-handling",
            f"the organisation's {actor.role} may handle its alerts",
            {**facts, "role": str(actor.role)},
        )
    return Decision(
        False,
        "alert-handling",
        "only the organisation's security officer or administrator may handle its alerts",
        facts,
    )
