"""Journal: the stored hashes (tiles) are brought up after the fact, like the patient links,
not by every append; `journal_head.hashed` says how far they reach (every complete tile so
far: appending stored them until now).

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "journal_head",
        sa.Column(
            "hashed",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
            server_default="0",
        ),
    )
    op.execute("UPDATE journal_head SET hashed = size - size % 256")


def downgrade() -> None:
    # Before, every append stored the tiles it completed, and the next append relies on them.
    hashed, size = op.get_bind().execute(sa.text("SELECT hashed, size FROM journal_head")).one()
    if hashed < size - size % 256:
        raise RuntimeError(
            "The journal's stored hashes lag behind its entries; bring them up to date "
            "(`coffre journal checkpoint` does) before going back to revision 0018."
        )
    with op.batch_alter_table("journal_head") as batch:
        batch.drop_column("hashed")
