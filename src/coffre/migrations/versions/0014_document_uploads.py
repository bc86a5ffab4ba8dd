"""Documents arriving: their sealed chunks kept apart until the transaction that files and
journals the document (records/filing.py), so no transaction spans an upload.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "document_uploads",
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("idx", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("document_id", "idx", name=op.f("pk_document_uploads")),
    )
    op.create_index(
        op.f("ix_document_uploads_created_at"), "document_uploads", ["created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_document_uploads_created_at"), table_name="document_uploads")
    op.drop_table("document_uploads")
