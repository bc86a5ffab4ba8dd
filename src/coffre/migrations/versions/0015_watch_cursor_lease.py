"""Watch: one follower at a time for each cursor, by a lease (holder and until when).

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("watch_cursors") as batch:
        batch.add_column(sa.Column("holder", sa.String(length=120), nullable=True))
        batch.add_column(sa.Column("held_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("watch_cursors") as batch:
        batch.drop_column("held_until")
        batch.drop_column("holder")
