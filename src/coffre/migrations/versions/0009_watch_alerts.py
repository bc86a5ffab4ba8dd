"""Watch: alerts, one per rule, group and episode, and the journal entries behind each.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "watch_alerts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organisation_id", sa.String(length=36), nullable=True),
        sa.Column("rule_ref", sa.String(length=200), nullable=False),
        sa.Column("rule_title", sa.String(length=300), nullable=False),
        sa.Column("severity", sa.String(length=20), nullable=True),
        sa.Column("group_key", sa.String(length=300), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("changed_by", sa.String(length=120), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watch_alerts")),
    )
    op.create_index("ix_watch_alerts_rule_group", "watch_alerts", ["rule_ref", "group_key"])
    op.create_index(
        "ix_watch_alerts_organisation_state", "watch_alerts", ["organisation_id", "state"]
    )
    op.create_table(
        "watch_alert_entries",
        sa.Column("alert_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["watch_alerts.id"],
            name=op.f("fk_watch_alert_entries_alert_id_watch_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("alert_id", "seq", name=op.f("pk_watch_alert_entries")),
    )


def downgrade() -> None:
    op.drop_table("watch_alert_entries")
    op.drop_index("ix_watch_alerts_organisation_state", table_name="watch_alerts")
    op.drop_index("ix_watch_alerts_rule_group", table_name="watch_alerts")
    op.drop_table("watch_alerts")
