"""Who an account is when it acts: its organisation, care teams, matrix and contracts.

`actor_for` builds the `Actor` every decision reads, once per sign-in (or CLI command), so
that deciding on one patient needs only that patient's facts.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from coffre.identity.actors import Actor, ActorKind, OrganisationKind
from coffre.identity.contracts import contracts_in_force
from coffre.identity.errors import AccountNotFound, IdentityError, OrganisationNotFound
from coffre.identity.sessions import Session, session_from_row
from coffre.identity.tables import (
    accounts,
    care_team_members,
    care_teams,
    organisations,
    sessions,
)
from coffre.store import UnitOfWork, lock_keys


@dataclass(frozen=True)
class Account:
    """An account as others may see it: no password hash, no second factor."""

    id: str
    organisation_id: str
    username: str
    role: str
    display_name: str
    profession: str | None
    specialty: str | None
    professional_id: str | None
    patient_id: str | None


def _account(row: sa.Row) -> Account:  # type: ignore[type-arg]
    return Account(
        row.id,
        row.organisation_id,
        row.username,
        row.role,
        row.display_name,
        row.profession,
        row.specialty,
        row.professional_id,
        row.patient_id,
    )


def find_account(uow: UnitOfWork, name_or_id: str) -> Account:
    """The account with this username or id; raise AccountNotFound."""
    row = uow.connection.execute(
        sa.select(accounts).where(
            sa.or_(accounts.c.username == name_or_id, accounts.c.id == name_or_id)
        )
    ).first()
    if row is None:
        raise AccountNotFound(f"There is no account {name_or_id!r}.")
    return _account(row)


def account_of_patient(uow: UnitOfWork, patient_id: str) -> Account | None:
    """The account of a patient's own record, if it has one."""
    row = uow.connection.execute(
        sa.select(accounts).where(accounts.c.patient_id == patient_id).limit(1)
    ).first()
    return _account(row) if row is not None else None


def list_accounts(uow: UnitOfWork, organisation_id: str | None = None) -> list[Account]:
    query = sa.select(accounts).order_by(accounts.c.created_at, accounts.c.username)
    if organisation_id is not None:
        query = query.where(accounts.c.organisation_id == organisation_id)
    return [_account(row) for row in uow.connection.execute(query)]


_ACTOR_COLUMNS = (accounts, organisations.c.kind.label("org_kind"), organisations.c.matrix)
# Built once: `actor_for` is on every request's path.
_ACTOR_BY_ID = (
    sa.select(*_ACTOR_COLUMNS)
    .join(organisations, organisations.c.id == accounts.c.organisation_id)
    .where(accounts.c.id == sa.bindparam("key"))
)
_ACTOR_BY_NAME = (
    sa.select(*_ACTOR_COLUMNS)
    .join(organisations, organisations.c.id == accounts.c.organisation_id)
    .where(accounts.c.username == sa.bindparam("key"))
)
_TEAMS_OF = (
    sa.select(care_team_members.c.team_id)
    .where(care_team_members.c.account_id == sa.bindparam("account_id"))
    .order_by(care_team_members.c.team_id)
)


def actor_for(
    uow: UnitOfWork, name_or_id: str, *, source: str, session_id: str | None = None
) -> Actor:
    """The actor an account (by id, else by username) is, with everything decisions need
    about it."""
    row = uow.connection.execute(_ACTOR_BY_ID, {"key": name_or_id}).first()
    if row is None:
        row = uow.connection.execute(_ACTOR_BY_NAME, {"key": name_or_id}).first()
    if row is None:
        raise AccountNotFound(f"There is no account {name_or_id!r}.")
    teams = uow.connection.execute(_TEAMS_OF, {"account_id": row.id}).scalars()
    kind = OrganisationKind(row.org_kind)
    return Actor(
        kind=ActorKind.ACCOUNT,
        id=row.id,
        organisation_id=row.organisation_id,
        role=row.role,
        profession=row.profession,
        session_id=session_id,
        source=source,
        patient_id=row.patient_id,
        organisation_kind=kind,
        care_team_ids=tuple(teams),
        organisation_matrix=row.matrix,
        contracts=(
            contracts_in_force(uow, row.organisation_id, datetime.now(UTC))
            if kind is OrganisationKind.SUBCONTRACTOR
            else ()
        ),
    )


def create_care_team(
    uow: UnitOfWork, organisation_id: str, name: str, member_ids: Iterable[str]
) -> str:
    """A care team of the organisation with these member accounts; return its id."""
    if not name.strip():
        raise IdentityError("A care team needs a name.")
    team_id = str(uuid.uuid4())
    uow.connection.execute(
        care_teams.insert().values(
            id=team_id,
            organisation_id=organisation_id,
            name=name.strip(),
            created_at=datetime.now(UTC),
        )
    )
    members = sorted(set(member_ids))
    found = uow.connection.execute(
        sa.select(sa.func.count()).where(
            accounts.c.id.in_(members), accounts.c.organisation_id == organisation_id
        )
    ).scalar_one()
    if found != len(members):
        raise IdentityError("Every member of a care team must be an account of its organisation.")
    if members:
        uow.connection.execute(
            care_team_members.insert(), [{"team_id": team_id, "account_id": m} for m in members]
        )
    return team_id


@dataclass(frozen=True)
class CareTeam:
    """A care team as the directory shows it: its name, organisation and members."""

    id: str
    organisation_id: str
    name: str
    member_ids: tuple[str, ...]


def list_care_teams(
    uow: UnitOfWork, organisation_id: str | None = None, team_id: str | None = None
) -> list[CareTeam]:
    """The care teams (of one organisation, or the one with `team_id`), by name."""
    query = sa.select(care_teams).order_by(care_teams.c.name, care_teams.c.id)
    if organisation_id is not None:
        query = query.where(care_teams.c.organisation_id == organisation_id)
    if team_id is not None:
        query = query.where(care_teams.c.id == team_id)
    teams = uow.connection.execute(query).all()
    members: dict[str, list[str]] = {t.id: [] for t in teams}
    if teams:
        rows = uow.connection.execute(
            sa.select(care_team_members.c.team_id, care_team_members.c.account_id)
            .where(care_team_members.c.team_id.in_(list(members)))
            .order_by(care_team_members.c.account_id)
        )
        for row in rows:
            members[row.team_id].append(row.account_id)
    return [CareTeam(t.id, t.organisation_id, t.name, tuple(members[t.id])) for t in teams]


def change_care_team_members(
    uow: UnitOfWork, team_id: str, add: Iterable[str], remove: Iterable[str]
) -> tuple[list[str], list[str]]:
    """Add and remove member accounts (ids) of a care team; return the ids added and
    removed. Raises IdentityError (no such team, an account both added and removed, one
    added that is a member already or not of the team's organisation, one removed that is
    not a member)."""
    organisation_id = team_organisation(uow, team_id)
    if organisation_id is None:
        raise IdentityError(f"There is no care team with id {team_id}.")
    lock_keys(uow.connection, [f"care-team:{team_id}"])  # changes of one team in turn
    added, removed = sorted(set(add)), sorted(set(remove))
    if set(added) & set(removed):
        raise IdentityError("An account cannot be both added to and removed from a team.")
    members = set(
        uow.connection.execute(
            sa.select(care_team_members.c.account_id).where(care_team_members.c.team_id == team_id)
        ).scalars()
    )
    if set(added) & members:
        raise IdentityError("An account to add is a member of the team already.")
    if set(removed) - members:
        raise IdentityError("An account to remove is not a member of the team.")
    if added:
        found = uow.connection.execute(
            sa.select(sa.func.count()).where(
                accounts.c.id.in_(added), accounts.c.organisation_id == organisation_id
            )
        ).scalar_one()
        if found != len(added):
            raise IdentityError(
                "Every member of a care team must be an account of its organisation."
            )
        uow.connection.execute(
            care_team_members.insert(), [{"team_id": team_id, "account_id": a} for a in added]
        )
    if removed:
        uow.connection.execute(
            care_team_members.delete().where(
                care_team_members.c.team_id == team_id,
                care_team_members.c.account_id.in_(removed),
            )
        )
    return added, removed


def team_organisation(uow: UnitOfWork, team_id: str) -> str | None:
    """The organisation a care team belongs to, or None if there is no such team."""
    return uow.connection.execute(
        sa.select(care_teams.c.organisation_id).where(care_teams.c.id == team_id)
    ).scalar()


def set_organisation_matrix(uow: UnitOfWork, organisation_id: str, matrix: str | None) -> None:
    """Store the organisation's own matrix (TOML, already validated by the caller), or clear
    it with None."""
    done = uow.connection.execute(
        organisations.update().where(organisations.c.id == organisation_id).values(matrix=matrix)
    ).rowcount
    if not done:
        raise OrganisationNotFound(f"There is no organisation with id {organisation_id}.")


def password_hash_of(uow: UnitOfWork, account_id: str) -> str:
    return str(
        uow.connection.execute(
            sa.select(accounts.c.password_hash).where(accounts.c.id == account_id)
        ).scalar_one()
    )


def set_password_hash(
    uow: UnitOfWork, account_id: str, password_hash: str, now: datetime, *, changed: bool = True
) -> None:
    """Store a new hash: a changed password, or the same one rehashed with the current
    parameters (`changed=False`)."""
    values: dict[str, object] = {"password_hash": password_hash}
    if changed:
        values["password_changed_at"] = now
    uow.connection.execute(accounts.update().where(accounts.c.id == account_id).values(**values))


def is_suspended(uow: UnitOfWork, account_id: str) -> bool:
    return (
        uow.connection.execute(
            sa.select(accounts.c.suspended_at).where(accounts.c.id == account_id)
        ).scalar()
        is not None
    )


def set_suspended(
    uow: UnitOfWork,
    account_id: str,
    at: datetime | None,
    by: str | None,
    reason: str | None,
) -> None:
    """Suspend the account from `at` (by whom, why), or lift it with None."""
    uow.connection.execute(
        accounts.update()
        .where(accounts.c.id == account_id)
        .values(
            suspended_at=at,
            suspended_by=by[:120] if by else None,
            suspended_reason=reason[:200] if reason else None,
        )
    )


def session_by_reference(uow: UnitOfWork, reference: str) -> tuple[Session, str] | None:
    """The open session the journal names by `reference`, and its account's organisation."""
    try:
        prefix = bytes.fromhex(reference)
    except ValueError:
        return None
    if len(prefix) != 8:
        return None
    rows = uow.connection.execute(
        sa.select(sessions, accounts.c.organisation_id.label("organisation"))
        .join(accounts, accounts.c.id == sessions.c.account_id)
        .where(sa.func.substr(sessions.c.id_hash, 1, 8) == prefix, sessions.c.ended_at.is_(None))
    ).all()
    if len(rows) != 1:
        return None
    return session_from_row(rows[0]), rows[0].organisation
