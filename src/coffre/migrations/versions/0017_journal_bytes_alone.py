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


def upgrade() -> None:
    with op.batch_alter_table("journal_entries") as batch:
        for name, _ in _COLUMNS:
            batch.drop_column(name)


def downgrade() -> None:
    with op.batch_alter_table("journal_entries") as batch:
        for name, length in _COLUMNS:
            batch.add_column(sa.Column(name, sa.String(length), nullable=True))
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
    with op.batch_alter_table("journal_entries") as batch:
        for name, length in _COLUMNS:
            batch.alter_column(name, existing_type=sa.String(length), nullable=False)
