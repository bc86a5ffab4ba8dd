"""Password resets: the accounts' sealed e-mail address and single-use reset tokens.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("email", sa.LargeBinary(), nullable=True))
    op.create_table(
        "password_resets",
        sa.Column("id_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_password_resets_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_password_resets")),
    )
    op.create_index(op.f("ix_password_resets_account_id"), "password_resets", ["account_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_password_resets_account_id"), table_name="password_resets")
    op.drop_table("password_resets")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("email")
