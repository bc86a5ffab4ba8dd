"""Care teams, subcontractors' contracts, organisations' matrices, insurers' members,
sealed emergency reasons and the notification outbox.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ID = sa.String(length=36)
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("organisations", sa.Column("matrix", sa.Text(), nullable=True))
    op.create_table(
        "care_teams",
        sa.Column("id", _ID, nullable=False),
        sa.Column("organisation_id", _ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_care_teams_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_teams")),
    )
    op.create_table(
        "care_team_members",
        sa.Column("team_id", _ID, nullable=False),
        sa.Column("account_id", _ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_care_team_members_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["care_teams.id"], name=op.f("fk_care_team_members_team_id_care_teams")
        ),
        sa.PrimaryKeyConstraint("team_id", "account_id", name=op.f("pk_care_team_members")),
    )
    op.create_index(op.f("ix_care_team_members_account_id"), "care_team_members", ["account_id"])
    op.create_table(
        "contracts",
        sa.Column("id", _ID, nullable=False),
        sa.Column("subcontractor_id", _ID, nullable=False),
        sa.Column("client_id", _ID, nullable=False),
        sa.Column("read", sa.String(length=400), nullable=False),
        sa.Column("write", sa.String(length=400), nullable=False),
        sa.Column("started_at", _TIME, nullable=False),
        sa.Column("ended_at", _TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"], ["organisations.id"], name=op.f("fk_contracts_client_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["subcontractor_id"],
            ["organisations.id"],
            name=op.f("fk_contracts_subcontractor_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contracts")),
    )
    op.create_index(op.f("ix_contracts_subcontractor_id"), "contracts", ["subcontractor_id"])
    op.create_table(
        "emergency_reasons",
        sa.Column("fact_id", _ID, nullable=False),
        sa.Column("patient_id", _ID, nullable=False),
        sa.Column("organisation_id", _ID, nullable=False),
        sa.Column("key_version", sa.Integer(), nullable=False),
        sa.Column("reason", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_emergency_reasons_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("fact_id", name=op.f("pk_emergency_reasons")),
    )
    op.create_index(op.f("ix_emergency_reasons_patient_id"), "emergency_reasons", ["patient_id"])
    op.create_table(
        "memberships",
        sa.Column("insurer_id", _ID, nullable=False),
        sa.Column("member_digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("patient_id", _ID, nullable=False),
        sa.Column("covered_from", sa.Date(), nullable=False),
        sa.Column("covered_until", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["insurer_id"],
            ["organisations.id"],
            name=op.f("fk_memberships_insurer_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_memberships_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("insurer_id", "member_digest", name=op.f("pk_memberships")),
    )
    op.create_index(op.f("ix_memberships_patient_id"), "memberships", ["patient_id"])
    op.create_table(
        "notifications",
        sa.Column("id", _ID, nullable=False),
        sa.Column("recipient_kind", sa.String(length=16), nullable=False),
        sa.Column("recipient_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column(
            "journal_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("delivered_at", _TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    op.create_index(
        "ix_notifications_recipient", "notifications", ["recipient_kind", "recipient_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_notifications_recipient", table_name="notifications")
    op.drop_table("notifications")
    op.drop_index(op.f("ix_memberships_patient_id"), table_name="memberships")
    op.drop_table("memberships")
    op.drop_index(op.f("ix_emergency_reasons_patient_id"), table_name="emergency_reasons")
    op.drop_table("emergency_reasons")
    op.drop_index(op.f("ix_contracts_subcontractor_id"), table_name="contracts")
    op.drop_table("contracts")
    op.drop_index(op.f("ix_care_team_members_account_id"), table_name="care_team_members")
    op.drop_table("care_team_members")
    op.drop_table("care_teams")
    with op.batch_alter_table("organisations") as batch:
        batch.drop_column("matrix")
