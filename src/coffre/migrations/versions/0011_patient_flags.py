"""Records: patients flagged VIP or staff; blind indexes for the relatives check.

The accounts get the digests of their holder's own family name and address. The patients'
new blind-index kinds (`family`, `address`) need the blind-index key, which a migration
does not have: a record registered before this revision gets them at its next update
(`records.update_patient`), and until then no relative or neighbour is seen on it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "patient_flags",
        sa.Column("patient_id", sa.String(length=36), nullable=False),
        sa.Column("flag", sa.String(length=16), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("set_by", sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_patient_flags_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("patient_id", "flag", name=op.f("pk_patient_flags")),
    )
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("family_digest", sa.LargeBinary(length=32), nullable=True))
        batch.add_column(sa.Column("address_digest", sa.LargeBinary(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("address_digest")
        batch.drop_column("family_digest")
    op.drop_table("patient_flags")
