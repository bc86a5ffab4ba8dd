"""The journal tables (protected: only coffre.journal imports this).

`journal_entries.entry` holds each entry's canonical bytes, the one source of truth; the
other columns project a few of its fields for lookups, and `coffre journal verify` checks
they agree. `seq` is gapless, taken from `journal_head` inside the appending transaction.
`journal_tiles` holds the Merkle tree's stored hashes (see coffre.journal.merkle).
"""

import sqlalchemy as sa

from coffre.store import BigInt, Id, metadata

journal_entries = sa.Table(
    "journal_entries",
    metadata,
    sa.Column("seq", BigInt, primary_key=True, autoincrement=False),
    # The canonical bytes alone: no column repeats a member of them, so none can disagree
    # with them, and an append writes no more than it hashes. Filters on the time or the
    # actor, for bulk exports, read them in the bytes (see coffre.journal.service._filtered).
    sa.Column("entry", sa.LargeBinary, nullable=False),
)

# One row per (entry, patient): a patient's own history is one indexed lookup. Derived from
# the entries and kept current after the fact (see coffre.journal.service.catch_up), so the
# append path writes no random-order index; journal_head.indexed says how far it reaches.
journal_patients = sa.Table(
    "journal_patients",
    metadata,
    sa.Column("patient_id", Id, primary_key=True),
    sa.Column("seq", BigInt, sa.ForeignKey("journal_entries.seq"), primary_key=True),
)

journal_head = sa.Table(
    "journal_head",
    metadata,
    sa.Column("id", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("size", BigInt, nullable=False),
    sa.Column("indexed", BigInt, nullable=False),
)

journal_tiles = sa.Table(
    "journal_tiles",
    metadata,
    sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("idx", BigInt, primary_key=True, autoincrement=False),
    sa.Column("hashes", sa.LargeBinary, nullable=False),
)

journal_checkpoints = sa.Table(
    "journal_checkpoints",
    metadata,
    sa.Column("size", BigInt, primary_key=True, autoincrement=False),
    sa.Column("root", sa.LargeBinary(32), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("created_at", sa.String(27), nullable=False),
)
