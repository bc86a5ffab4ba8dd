"""Sign-up: single-use links sent to the address a patient's record holds.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sign_up_links",
        sa.Column("id_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("patient_id", sa.String(length=36), nullable=False),
        sa.Column("email", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_sign_up_links_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_sign_up_links")),
    )
    op.create_index(op.f("ix_sign_up_links_patient_id"), "sign_up_links", ["patient_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_sign_up_links_patient_id"), table_name="sign_up_links")
    op.drop_table("sign_up_links")
