"""Whether an actor may search patients at all, and read the directory: pure decisions."""

from __future__ import annotations

from coffre.access.policy import Action, Decision, Purpose, decide
from coffre.access.scope import _facts_of
from coffre.access.tokens import decide_token
from coffre.identity import Actor, ActorKind, OrganisationKind


def decide_search(actor: Actor, resources: frozenset[str], purpose: Purpose) -> Decision:
    """Whether the actor may search patients for `purpose` at all. Each patient found is
    then decided by `decide_data`, and those it refuses are left out of the results."""
    refused = decide_token(actor, resources, "s")
    if refused is not None:
        return refused
    base = _facts_of(actor, Action.FIND, purpose)
    if actor.kind is ActorKind.OPERATOR:
        return decide(actor, Action.FIND, purpose)
    if actor.organisation_kind is OrganisationKind.INSURER:
        return Decision(
            False,
            "insurer-scope",
            "an insurer sees eligibility and usage figures only, never a patient's data",
            base,
        )
    if actor.kind is ActorKind.SYSTEM:
        return Decision(False, "default-deny", "no rule allows this actor to search patients", base)
    return Decision(
        True,
        "search-per-patient",
        "each patient found is decided by the access policy; those it refuses are left out",
        base,
    )


DIRECTORY_KINDS = frozenset({ActorKind.ACCOUNT, ActorKind.CLIENT, ActorKind.OPERATOR})


def decide_directory(actor: Actor, resource: str) -> Decision:
    """Reading the directory of professionals and organisations (no patient data): anyone
    signed in, and any client, whose token (if any) allows reading that resource type."""
    refused = decide_token(actor, (resource,), "r")
    if refused is not None:
        return refused
    facts = {"actor_kind": actor.kind.value, "resource": resource}
    if actor.kind in DIRECTORY_KINDS:
        return Decision(
            True, "directory-read", "the directory of professionals is open to members", facts
        )
    return Decision(False, "default-deny", "no rule opens the directory to this actor", facts)
