"""Watch: each actor's rolling activity profile (hour of week, last seen), and the
explanation an alert carries (its rule's description).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "watch_profiles",
        sa.Column("actor_key", sa.String(length=200), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("actor_key", name=op.f("pk_watch_profiles")),
    )
    with op.batch_alter_table("watch_alerts") as batch:
        batch.add_column(sa.Column("explanation", sa.String(length=1000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("watch_alerts") as batch:
        batch.drop_column("explanation")
    op.drop_table("watch_profiles")
