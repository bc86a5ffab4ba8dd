"""Setting organisations up: adding one, its own matrix, its care teams and their members,
its subcontractors' contracts (and ending them), its accounts and their holders' personal
digests.

Each changes who may see patient data, so each is decided by `access.decide_setup` and
journaled in the same transaction as the change, refusals included (docs/access.md §1).
The entries name ids only: the organisations, the team, its member accounts, the contract,
an account, and a matrix by the SHA-256 of its text; never a name, an address or the matrix
itself. A change that fails (an unknown account, an invalid matrix, a contract between the
wrong kinds of organisation, a username taken) changes nothing and is not journaled.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime

from coffre import access, identity
from coffre.access import Category, Decision, SetupChange
from coffre.crypto import BlindIndex, SecretBox
from coffre.identity import Actor, IdentityError, NewAccount, Organisation, OrganisationKind, resets
from coffre.journal import EventKind, Outcome
from coffre.records.gate import record, refuse
from coffre.store import UnitOfWork


def _decide(
    uow: UnitOfWork,
    actor: Actor,
    change: SetupChange,
    organisation_id: str | None,
    event: EventKind,
    resources: list[str],
) -> Decision:
    """The allowing decision, or journal the refusal (naming `resources`), commit it and
    raise AccessDenied."""
    decision = access.decide_setup(actor, change, organisation_id)
    if not decision.allowed:
        refuse(uow, actor, decision, event, None, (), resources)
    return decision


def _done(
    uow: UnitOfWork,
    actor: Actor,
    decision: Decision,
    event: EventKind,
    resources: list[str],
    **facts: str,
) -> None:
    """Journal the change (with these facts besides the decision's) and commit."""
    decision = replace(decision, facts={**decision.facts, **facts})
    record(uow, actor, decision, event, Outcome.SUCCESS, None, (), resources)
    uow.commit()


def add_organisation(
    uow: UnitOfWork, actor: Actor, name: str, kind: OrganisationKind, country: str
) -> Organisation:
    """Add an organisation and return it. Raises AccessDenied (anyone but the local
    operator) or IdentityError (no name, not a two-letter country code)."""
    event = EventKind.ORGANISATION_CREATE
    with uow:
        decision = _decide(uow, actor, SetupChange.ORGANISATION, None, event, [])
        org = identity.create_organisation(uow, name, kind, country)
        resources = [f"organisation:{org.id}"]
        _done(uow, actor, decision, event, resources, kind=org.kind.value, country=org.country)
    return org


def set_organisation_matrix(
    uow: UnitOfWork,
    actor: Actor,
    organisation_id: str,
    text: str | None,
    *,
    source: str = "the matrix",
) -> None:
    """Set the organisation's own matrix (TOML, format coffre-matrix/1), or clear it with
    None. Raises InvalidMatrix (naming `source`), OrganisationNotFound or AccessDenied."""
    if text is not None:
        access.parse_matrix(text, source)
    event = EventKind.MATRIX_UPDATE
    change = SetupChange.CLEAR_MATRIX if text is None else SetupChange.SET_MATRIX
    resources = [f"organisation:{organisation_id}"]
    if text is not None:
        resources.append(f"matrix:{hashlib.sha256(text.encode('utf-8')).hexdigest()}")
    with uow:
        identity.get_organisation(uow, organisation_id)
        decision = _decide(uow, actor, change, organisation_id, event, resources)
        identity.set_organisation_matrix(uow, organisation_id, text)
        _done(uow, actor, decision, event, resources)


def add_care_team(
    uow: UnitOfWork, actor: Actor, organisation_id: str, name: str, members: Iterable[str]
) -> str:
    """Form a care team of the organisation with these member accounts (usernames or ids);
    return its id. Raises OrganisationNotFound, AccessDenied, AccountNotFound or
    IdentityError (no name, a member of another organisation)."""
    event = EventKind.TEAM_CREATE
    with uow:
        identity.get_organisation(uow, organisation_id)
        resources = [f"organisation:{organisation_id}"]
        decision = _decide(uow, actor, SetupChange.TEAM, organisation_id, event, resources)
        ids = sorted({identity.find_account(uow, member).id for member in members})
        team_id = identity.create_care_team(uow, organisation_id, name, ids)
        resources += [f"team:{team_id}", *(f"account:{i}" for i in ids)]
        _done(uow, actor, decision, event, resources, members=str(len(ids)))
    return team_id


def change_care_team(
    uow: UnitOfWork,
    actor: Actor,
    team_id: str,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
) -> tuple[list[str], list[str]]:
    """Add and remove members (usernames or ids) of a care team; return the ids of the
    accounts added and removed. A member removed no longer reads the team's patients
    (within the few seconds an actor is kept, see `signin.ActorCache`). Raises
    AccessDenied, AccountNotFound or IdentityError (no such team, a member added twice or
    of another organisation, one removed who is not a member). A change of nothing (the
    FHIR API's update that keeps every member) is decided and journaled all the same."""
    event = EventKind.TEAM_UPDATE
    with uow:
        organisation_id = identity.team_organisation(uow, team_id)
        if organisation_id is None:
            raise IdentityError(f"There is no care team with id {team_id}.")
        resources = [f"organisation:{organisation_id}", f"team:{team_id}"]
        decision = _decide(uow, actor, SetupChange.TEAM_MEMBERS, organisation_id, event, resources)
        added, removed = identity.change_care_team_members(
            uow,
            team_id,
            [identity.find_account(uow, member).id for member in add],
            [identity.find_account(uow, member).id for member in remove],
        )
        resources += [f"account:{i}" for i in sorted({*added, *removed})]
        _done(
            uow,
            actor,
            decision,
            event,
            resources,
            added=",".join(added) or "none",
            removed=",".join(removed) or "none",
        )
    return added, removed


def _categories(names: Iterable[str]) -> list[str]:
    known = {c.value for c in Category}
    chosen = sorted(set(names))
    for name in chosen:
        if name not in known:
            raise IdentityError(f"{name!r} is not a category.")
    return chosen


def add_contract(
    uow: UnitOfWork,
    actor: Actor,
    subcontractor_id: str,
    client_id: str,
    read: Iterable[str],
    write: Iterable[str],
    *,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
) -> str:
    """Record a subcontractor's contract with a client organisation, in force from
    `starts_at` (default now) until `ends_at` (if set); return its id. Decided on the
    client, whose patients' data it opens. Raises AccessDenied or IdentityError (an unknown
    category, none at all, the wrong kinds of organisation, an end before the start)."""
    readable, writable = _categories(read), _categories(write)
    if not readable and not writable:
        raise IdentityError("A contract names at least one category to read or write.")
    event = EventKind.CONTRACT_CREATE
    resources = [f"organisation:{subcontractor_id}", f"organisation:{client_id}"]
    with uow:
        decision = _decide(uow, actor, SetupChange.CONTRACT, client_id, event, resources)
        contract_id = identity.add_contract(
            uow,
            subcontractor_id,
            client_id,
            readable,
            writable,
            starts_at=starts_at or datetime.now(UTC),
            ends_at=ends_at,
        )
        _done(
            uow,
            actor,
            decision,
            event,
            [f"contract:{contract_id}", *resources],
            read=",".join(readable) or "none",
            write=",".join(writable) or "none",
            ends=ends_at.isoformat(timespec="seconds") if ends_at else "none",
        )
    return contract_id


def end_contract(
    uow: UnitOfWork, actor: Actor, contract_id: str, *, at: datetime | None = None
) -> datetime:
    """End a subcontractor's contract now (or at `at`), before its term; return when it
    ends (as it starts, if it had not). Decided on the client, as the contract was. The
    subcontractor's tokens lose what it opened within the few seconds an actor is kept
    (see `signin.ActorCache`). Raises AccessDenied or IdentityError (no such contract, one
    ended already)."""
    event = EventKind.CONTRACT_UPDATE
    with uow:
        # Read before the decision, which is on the client; the update happens after it.
        parties = identity.contract_parties(uow, contract_id)
        resources = [
            f"contract:{contract_id}",
            f"organisation:{parties.subcontractor_id}",
            f"organisation:{parties.client_id}",
        ]
        decision = _decide(
            uow, actor, SetupChange.END_CONTRACT, parties.client_id, event, resources
        )
        ends_at = identity.end_contract(uow, contract_id, at or datetime.now(UTC))
        ended = ends_at.isoformat(timespec="seconds")
        _done(uow, actor, decision, event, resources, ends=ended)
    return ends_at


def add_account(
    uow: UnitOfWork,
    actor: Actor,
    new: NewAccount,
    *,
    email: str | None = None,
    box: SecretBox | None = None,
) -> str:
    """Add an account to its organisation (with the sealed address its password resets go
    to, when given with the box that seals it); return its id. Raises
    OrganisationNotFound, AccessDenied or IdentityError (a name taken, a bad role)."""
    if email and box is None:
        raise ValueError("an e-mail address is sealed with the box given with it")
    event = EventKind.ACCOUNT_CREATE
    resources = [f"organisation:{new.organisation_id}"]
    with uow:
        identity.get_organisation(uow, new.organisation_id)
        decision = _decide(uow, actor, SetupChange.ACCOUNT, new.organisation_id, event, resources)
        [account_id] = identity.create_accounts(uow, [new])
        if email and box is not None:
            resets.set_email(uow, box, account_id, email)
        facts = {"role": new.role, **({"profession": new.profession} if new.profession else {})}
        _done(uow, actor, decision, event, [*resources, f"account:{account_id}"], **facts)
    return account_id


def set_personal_digests(
    uow: UnitOfWork,
    actor: Actor,
    blind: BlindIndex,
    account: str,
    family: str,
    address: str | None = None,
) -> str:
    """Keep the digests of the account holder's own family name and address (replacing
    both); return the account's id. Decided on the account's organisation. Raises
    AccountNotFound, AccessDenied or IdentityError."""
    event = EventKind.ACCOUNT_UPDATE
    with uow:
        found = identity.find_account(uow, account)
        resources = [f"account:{found.id}"]
        decision = _decide(
            uow, actor, SetupChange.PERSONAL, found.organisation_id, event, resources
        )
        identity.set_personal(uow, blind, found.id, family, address)
        _done(uow, actor, decision, event, resources, address="yes" if address else "no")
    return found.id
