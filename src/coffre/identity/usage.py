"""The usage of machine clients: records served, counted per hour against each client's
ceilings per hour and per 24 hours (reaching a ceiling is allowed, going past it is not)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from coffre.identity.errors import CeilingReached, ClientNotFound
from coffre.identity.tables import client_usage, clients
from coffre.store import UnitOfWork

_DAY = timedelta(hours=24)


@dataclass(frozen=True)
class Usage:
    """Records counted for a client: in the current hour and the last 24 hours."""

    hour: int
    day: int
    per_hour: int
    per_day: int


def _hour(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def charge(uow: UnitOfWork, client_id: str, records: int, now: datetime) -> Usage:
    """Count `records` served to the client, unless that would go past its ceiling per hour
    or per 24 hours (reaching it exactly is allowed): then raise CeilingReached, and count
    only the refusal. Charges of one client are serialised by a lock on its row."""
    if records < 0:
        raise ValueError("records must not be negative")
    ceilings = uow.connection.execute(
        sa.select(clients.c.per_hour, clients.c.per_day)
        .where(clients.c.id == client_id)
        .with_for_update()
    ).first()
    if ceilings is None:
        raise ClientNotFound(f"There is no client {client_id[:64]!r}.")
    hour = _hour(now)
    rows = uow.connection.execute(
        sa.select(client_usage.c.hour, client_usage.c.records, client_usage.c.refused).where(
            client_usage.c.client_id == client_id, client_usage.c.hour > hour - _DAY
        )
    ).all()
    current = next((r for r in rows if r.hour == hour), None)
    in_hour = current.records if current else 0
    in_day = sum(r.records for r in rows)
    period = None
    if in_hour + records > ceilings.per_hour:
        period = "hour"
    elif in_day + records > ceilings.per_day:
        period = "day"
    key = (client_usage.c.client_id == client_id) & (client_usage.c.hour == hour)
    if period is not None:
        first = current is None or current.refused == 0
        if current is None:
            uow.connection.execute(
                client_usage.insert().values(client_id=client_id, hour=hour, records=0, refused=1)
            )
        else:
            uow.connection.execute(
                client_usage.update().where(key).values(refused=client_usage.c.refused + 1)
            )
        limit = ceilings.per_hour if period == "hour" else ceilings.per_day
        window = "hour" if period == "hour" else "24 hours"
        raise CeilingReached(
            f"The client reached its ceiling of {limit} records per {window}; try again later.",
            client_id,
            period,
            first=first,
        )
    if records:
        if current is None:
            uow.connection.execute(
                client_usage.insert().values(
                    client_id=client_id, hour=hour, records=records, refused=0
                )
            )
        else:
            uow.connection.execute(
                client_usage.update().where(key).values(records=client_usage.c.records + records)
            )
        uow.connection.execute(
            client_usage.delete().where(
                client_usage.c.client_id == client_id, client_usage.c.hour <= hour - 2 * _DAY
            )
        )
    return Usage(in_hour + records, in_day + records, ceilings.per_hour, ceilings.per_day)
