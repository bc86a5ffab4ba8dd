"""Watch: the security officer's notes on alerts, sealed, one per change of state, in their
own table instead of a column in clear.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # No Coffre command wrote the old column; a note found there was written by hand, cannot
    # be sealed here (the key is not at hand), and is not dropped silently either.
    bind = op.get_bind()
    kept = bind.execute(sa.text("SELECT count(*) FROM watch_alerts WHERE note IS NOT NULL"))
    if kept.scalar_one():
        raise RuntimeError(
            "watch_alerts holds notes in clear; copy them out and empty the column first."
        )
    op.create_table(
        "watch_alert_notes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("alert_id", sa.String(length=36), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("author", sa.String(length=120), nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["watch_alerts.id"],
            name=op.f("fk_watch_alert_notes_alert_id_watch_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watch_alert_notes")),
    )
    op.create_index(
        op.f("ix_watch_alert_notes_alert_id"), "watch_alert_notes", ["alert_id"], unique=False
    )
    with op.batch_alter_table("watch_alerts") as batch:
        batch.drop_column("note")


def downgrade() -> None:
    with op.batch_alter_table("watch_alerts") as batch:
        batch.add_column(sa.Column("note", sa.String(length=500), nullable=True))
    op.drop_index(op.f("ix_watch_alert_notes_alert_id"), table_name="watch_alert_notes")
    op.drop_table("watch_alert_notes")
