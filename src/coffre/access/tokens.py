"""What a bearer token lets through: its SMART scopes narrow what the policy allows.

An actor that acts through a token (a machine client, or a person's personal access token)
carries the token's scopes. Every request on patient data names the FHIR resource types it
touches and the operation (a letter of `cruds`); the token must allow that operation on each
of them, in the token's own context (`system/` for a client, `user/` or `patient/` for a
person). A token never widens anything: the policy still decides after it. An actor without
scopes (a browser session, the command line) is not narrowed here.

A request that names no resource type cannot be checked against scopes and is refused to a
token holder: an operation nobody taught to name its resources stays closed to tokens.
"""

from __future__ import annotations

from collections.abc import Iterable

from coffre.access.policy import Decision
from coffre.identity import Actor, ActorKind, allows

OPERATION_NAMES = {"c": "create", "r": "read", "u": "update", "d": "delete", "s": "search"}


def _contexts(actor: Actor) -> tuple[str, ...]:
    return ("system",) if actor.kind is ActorKind.CLIENT else ("user", "patient")


def _allowed(actor: Actor, resource: str, operation: str) -> bool:
    return any(
        allows(actor.scopes, resource, operation, context=context) for context in _contexts(actor)
    )


def narrowed(actor: Actor) -> bool:
    """Whether the actor acts through a token whose scopes narrow what it may do (a client
    always does: a client without scopes may do nothing)."""
    return bool(actor.scopes) or actor.kind is ActorKind.CLIENT


def token_reach(actor: Actor, resources: Iterable[str], operation: str) -> frozenset[str]:
    """Of these FHIR resource types, those the actor's token allows `operation` on (all of
    them when no token narrows the actor)."""
    wanted = frozenset(resources)
    if not narrowed(actor):
        return wanted
    return frozenset(r for r in wanted if _allowed(actor, r, operation))


def decide_token(actor: Actor, resources: Iterable[str], operation: str) -> Decision | None:
    """None when the actor's token (if any) allows `operation` on every one of these
    resource types; otherwise the denial, naming the scope that is missing."""
    if not narrowed(actor):
        return None
    wanted = sorted(set(resources))
    name = OPERATION_NAMES[operation]
    facts = {"actor_kind": actor.kind.value, "operation": name}
    if not wanted:
        return Decision(
            False,
            "token-scope",
            "this operation is not open to bearer tokens",
            facts,
        )
    missing = [r for r in wanted if not _allowed(actor, r, operation)]
    if not missing:
        return None
    context = _contexts(actor)[0]
    return Decision(
        False,
        "token-scope",
        f"the token's scopes do not allow to {name} {', '.join(missing)} "
        f"(it would need {context}/{missing[0]}.{operation})",
        {**facts, "resources": ",".join(missing)},
    )
