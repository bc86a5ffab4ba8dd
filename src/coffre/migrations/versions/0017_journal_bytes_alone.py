"""Journal: an entry is stored as its canonical bytes alone. The columns that repeated its
time, actor and action are dropped (filters read them in the bytes), so no stored column can
disagree with the bytes, and an append writes no more than it hashes.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-24
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_COLUMNS = (("recorded_at", 27), ("actor_id", 120), ("action", 64))


# In place, on SQLite too (ALTER TABLE … DROP/ADD COLUMN, SQLite 3.35): a batch migration
# would drop and recreate the table, which the patient links' foreign key forbids.


def upgrade() -> None:
    for name, _ in _COLUMNS:
        op.execute(f"ALTER TABLE journal_entries DROP COLUMN {name}")


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name, length in _COLUMNS:
        # SQLite adds a NOT NULL column only with a default, and cannot change it later.
        default = " NOT NULL DEFAULT ''" if sqlite else ""
        op.execute(f"ALTER TABLE journal_entries ADD COLUMN {name} VARCHAR({length}){default}")
    conn = op.get_bind()
    entries = sa.table(
        "journal_entries",
        sa.column("seq", sa.BigInteger),
        sa.column("entry", sa.LargeBinary),
        *(sa.column(name, sa.String) for name, _ in _COLUMNS),
    )
    fill = (
        entries.update()
        .where(entries.c.seq == sa.bindparam("at"))
        .values(recorded_at=sa.bindparam("t"), actor_id=sa.bindparam("a"), action=sa.bindparam("c"))
    )
    chunk = (
        sa.select(entries.c.seq, entries.c.entry)
        .where(entries.c.seq >= sa.bindparam("start"))
        .order_by(entries.c.seq)
        .limit(10_000)
    )
    start = -(2**62)
    while rows := conn.execute(chunk, {"start": start}).all():
        values = []
        for seq, data in rows:
            fields = json.loads(bytes(data))
            time, actor, action = fields["time"], fields["actor"]["id"], fields["action"]
            values.append({"at": seq, "t": time, "a": actor, "c": action})
        conn.execute(fill, values)
        start = rows[-1][0] + 1
    if not sqlite:
        for name, _ in _COLUMNS:
            op.alter_column("journal_entries", name, nullable=False)
