"""Who may change what decides access: organisations, their matrices, care teams,
subcontractors' contracts, and accounts (a new one, an account holder's personal digests).

Each of these widens or narrows who may see patient data, so each is decided here and
journaled by its service (`records.governance`). The local operator may make any of them;
an organisation's administrator may narrow its own matrix, form its own care teams, give
a subcontractor a contract with it (the client, whose patients' data the contract opens),
add its accounts and keep its account holders' personal digests. Only the local operator
adds an organisation. Nobody else, not even a professional or an officer of that
organisation, and no administrator of another one.
"""

from __future__ import annotations

from enum import StrEnum

from coffre.access.policy import Decision, _officer_rule
from coffre.access.tokens import decide_token
from coffre.identity import Actor


class SetupChange(StrEnum):
    """What is changed; the fact `change` of the decision."""

    ORGANISATION = "create-organisation"
    SET_MATRIX = "set-matrix"
    CLEAR_MATRIX = "clear-matrix"
    TEAM = "create-team"
    TEAM_MEMBERS = "change-team-members"
    CONTRACT = "create-contract"
    END_CONTRACT = "end-contract"
    ACCOUNT = "create-account"
    PERSONAL = "set-personal-digests"


# Who may make these changes within an organisation, besides the local operator.
SETUP_ROLES = frozenset({"organisation-admin"})

# What may be done: as the operator says it, and as an organisation's administrator does.
_WHAT = {
    SetupChange.ORGANISATION: ("add organisations", "add organisations"),
    SetupChange.SET_MATRIX: ("set an organisation's matrix", "set its matrix"),
    SetupChange.CLEAR_MATRIX: ("clear an organisation's matrix", "clear its matrix"),
    SetupChange.TEAM: ("form care teams", "form its care teams"),
    SetupChange.TEAM_MEMBERS: (
        "change a care team's members",
        "change the members of its care teams",
    ),
    SetupChange.CONTRACT: (
        "give a subcontractor a contract",
        "give a subcontractor a contract with it",
    ),
    SetupChange.END_CONTRACT: (
        "end a subcontractor's contract",
        "end a subcontractor's contract with it",
    ),
    SetupChange.ACCOUNT: ("add accounts", "add its accounts"),
    SetupChange.PERSONAL: (
        "keep an account holder's personal digests",
        "keep its account holders' personal digests",
    ),
}


# The changes made through the FHIR API: a token must allow them (resource, operation).
_THROUGH_API = {SetupChange.TEAM_MEMBERS: ("CareTeam", "u")}


def decide_setup(actor: Actor, change: SetupChange, organisation_id: str | None) -> Decision:
    """Whether the actor may make `change` to the organisation `organisation_id` (for a
    contract, the client's; None for a new organisation, which only the operator adds).
    A change the API makes needs a token (if any) whose scopes allow it."""
    scoped = _THROUGH_API.get(change)
    refused = decide_token(actor, (scoped[0],), scoped[1]) if scoped is not None else None
    if refused is not None:
        return refused
    anywhere, within = _WHAT[change]
    if change is SetupChange.ORGANISATION:
        organisation_id = None
        refused = "only the local operator may add organisations"
    else:
        refused = f"only the local operator or the organisation's administrator may {within}"
    return _officer_rule(
        actor,
        organisation_id,
        {"actor_kind": actor.kind.value, "change": change.value},
        rule="organisation-setup",
        roles=SETUP_ROLES,
        trusted=f"the local operator may {anywhere}",
        member=f"the organisation's {{role}} may {within}",
        refused=refused,
    )
