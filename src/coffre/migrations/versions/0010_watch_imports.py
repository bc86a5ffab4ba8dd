"""Watch: events imported from other systems' audit logs.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "watch_imports",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("source", sa.String(length=120), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.String(length=36), nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("imported_by", sa.String(length=120), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watch_imports")),
    )
    op.create_table(
        "watch_imported_events",
        sa.Column("id", _BIGINT, autoincrement=True, nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("source", sa.String(length=120), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["watch_imports.id"],
            name=op.f("fk_watch_imported_events_batch_id_watch_imports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watch_imported_events")),
    )
    op.create_index("ix_watch_imported_events_batch", "watch_imported_events", ["batch_id"])
    op.create_table(
        "watch_alert_imported_entries",
        sa.Column("alert_id", sa.String(length=36), nullable=False),
        sa.Column("position", _BIGINT, nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["watch_alerts.id"],
            name=op.f("fk_watch_alert_imported_entries_alert_id_watch_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "alert_id", "position", name=op.f("pk_watch_alert_imported_entries")
        ),
    )


def downgrade() -> None:
    op.drop_table("watch_alert_imported_entries")
    op.drop_index("ix_watch_imported_events_batch", table_name="watch_imported_events")
    op.drop_table("watch_imported_events")
    op.drop_table("watch_imports")
