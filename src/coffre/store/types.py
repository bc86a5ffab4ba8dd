"""Column types shared by the domain tables."""

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

# SQLite only makes INTEGER PRIMARY KEY an alias of the rowid; elsewhere a 64-bit integer.
BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Id = sa.String(36)


class UtcTimestamp(sa.types.TypeDecorator[datetime]):
    """A moment, stored with its zone where the database keeps one, and always read back as
    an aware UTC time (SQLite hands back naive times; every time Coffre stores is UTC)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None or value.tzinfo is not None:
            return value  # type: ignore[no-any-return]
        return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]


Timestamp = UtcTimestamp()
