"""Journal: the patient links are kept in entry order, (seq, patient_id), clustered on
SQLite (WITHOUT ROWID), with an index (patient_id, seq) for a patient's history. A span's
links were read by scanning the whole table and sorting it; they are now a range.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-24
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_INDEX = "ix_journal_patients_patient_id_seq"


def upgrade() -> None:
    with op.batch_alter_table(
        "journal_patients", recreate="auto", table_kwargs={"sqlite_with_rowid": False}
    ) as batch:
        batch.drop_constraint("pk_journal_patients", type_="primary")
        batch.create_primary_key("pk_journal_patients", ["seq", "patient_id"])
    op.create_index(_INDEX, "journal_patients", ["patient_id", "seq"])


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="journal_patients")
    with op.batch_alter_table(
        "journal_patients", recreate="auto", table_kwargs={"sqlite_with_rowid": True}
    ) as batch:
        batch.drop_constraint("pk_journal_patients", type_="primary")
        batch.create_primary_key("pk_journal_patients", ["patient_id", "seq"])
