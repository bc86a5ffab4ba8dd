"""Journal: the index on entries' times dropped (every append wrote it; an export since a
time now starts at a checkpoint made before that time).

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-24
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index(op.f("ix_journal_entries_recorded_at"), table_name="journal_entries")


def downgrade() -> None:
    op.create_index(
        op.f("ix_journal_entries_recorded_at"), "journal_entries", ["recorded_at"], unique=False
    )
