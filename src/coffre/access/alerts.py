"""Handling a detection alert: acknowledging or closing it, with a note.

An alert belongs to the organisation of the actor it is about; its security officer (or
its administrator) handles it, and the local operator may handle any. Nobody else, not
even a professional of that organisation, changes an alert's state.
"""

from __future__ import annotations

from coffre.access.policy import Decision, _officer_rule
from coffre.identity import Actor

# Who may handle an organisation's alerts, besides the local operator.
ALERT_ROLES = frozenset({"security-officer", "organisation-admin"})


def decide_alert(actor: Actor, alert_organisation_id: str | None) -> Decision:
    """Whether the actor may acknowledge or close an alert of `alert_organisation_id` (None:
    an alert about an actor of no organisation, which only the local operator handles)."""
    return _officer_rule(
        actor,
        alert_organisation_id,
        {"actor_kind": actor.kind.value},
        rule="alert-handling",
        roles=ALERT_ROLES,
        trusted="the local operator may handle alerts",
        member="the organisation's {role} may handle its alerts",
        refused="only the organisation's security officer or administrator may handle its alerts",
    )
