"""Subcontractors' contracts with client organisations: what each opens, and until when."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from coffre.identity.actors import Contract, OrganisationKind
from coffre.identity.errors import IdentityError
from coffre.identity.tables import contracts, organisations
from coffre.store import UnitOfWork


def add_contract(
    uow: UnitOfWork,
    subcontractor_id: str,
    client_id: str,
    read: Iterable[str],
    write: Iterable[str],
    *,
    starts_at: datetime,
    ends_at: datetime | None = None,
) -> str:
    """A subcontractor's contract with a client organisation; return its id. The caller
    checks the category names."""
    kinds = dict(
        uow.connection.execute(
            sa.select(organisations.c.id, organisations.c.kind).where(
                organisations.c.id.in_([subcontractor_id, client_id])
            )
        ).all()
    )
    if kinds.get(subcontractor_id) != OrganisationKind.SUBCONTRACTOR.value:
        raise IdentityError("A contract's first party must be a subcontractor organisation.")
    if client_id not in kinds or kinds[client_id] in (
        OrganisationKind.SUBCONTRACTOR.value,
        OrganisationKind.INSURER.value,
    ):
        raise IdentityError("A contract's client must be a care or telemedicine provider.")
    if ends_at is not None and ends_at <= starts_at:
        raise IdentityError("A contract must end after it starts.")
    contract_id = str(uuid.uuid4())
    uow.connection.execute(
        contracts.insert().values(
            id=contract_id,
            subcontractor_id=subcontractor_id,
            client_id=client_id,
            read=",".join(sorted(set(read))),
            write=",".join(sorted(set(write))),
            started_at=starts_at,
            ended_at=ends_at,
        )
    )
    return contract_id


@dataclass(frozen=True)
class ContractParties:
    """Who a contract binds."""

    subcontractor_id: str
    client_id: str


def _contract(uow: UnitOfWork, contract_id: str) -> sa.Row:  # type: ignore[type-arg]
    row = uow.connection.execute(
        sa.select(contracts).where(contracts.c.id == contract_id)
    ).one_or_none()
    if row is None:
        raise IdentityError(f"There is no contract with id {contract_id}.")
    return row


def contract_parties(uow: UnitOfWork, contract_id: str) -> ContractParties:
    """Who a contract binds. Raises IdentityError if there is no such contract."""
    row = _contract(uow, contract_id)
    return ContractParties(row.subcontractor_id, row.client_id)


def end_contract(uow: UnitOfWork, contract_id: str, at: datetime) -> datetime:
    """End a contract at `at`: it is not in force from then on; return its end (its start,
    if it had not started). Raises IdentityError (no such contract, one that has ended by
    then already)."""
    row = _contract(uow, contract_id)
    if row.ended_at is not None and row.ended_at <= at:
        raise IdentityError("That contract has ended already.")
    # A contract that has not started yet ends as it starts: it is never in force.
    ends_at: datetime = max(at, row.started_at)
    ended = uow.connection.execute(
        contracts.update()
        .where(
            contracts.c.id == contract_id,
            sa.or_(contracts.c.ended_at.is_(None), contracts.c.ended_at > at),
        )
        .values(ended_at=ends_at)
    ).rowcount
    if not ended:  # ended by another change since it was read (PostgreSQL)
        raise IdentityError("That contract has ended already.")
    return ends_at


def contracts_in_force(
    uow: UnitOfWork, subcontractor_id: str, now: datetime
) -> tuple[Contract, ...]:
    """The subcontractor's contracts started by `now` and not ended."""
    rows = uow.connection.execute(
        sa.select(contracts)
        .where(contracts.c.subcontractor_id == subcontractor_id, contracts.c.started_at <= now)
        .order_by(contracts.c.started_at)
    )
    found = []
    for row in rows:
        ends = row.ended_at
        if ends is not None and ends <= now:
            continue
        found.append(
            Contract(
                row.client_id,
                tuple(c for c in row.read.split(",") if c),
                tuple(c for c in row.write.split(",") if c),
                ends,
            )
        )
    return tuple(found)
