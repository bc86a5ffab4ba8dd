"""Column types shared by the domain tables."""

import sqlalchemy as sa

# SQLite only makes INTEGER PRIMARY KEY an alias of the rowid; elsewhere a 64-bit integer.
BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Id = sa.String(36)
Timestamp = sa.DateTime(timezone=True)
