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

# One row per (entry, patient), derived from the entries (see coffre.journal.service.append
# and catch_up); journal_head.indexed says how far the links reach. Kept in entry order (on
# SQLite, clustered by it: WITHOUT ROWID), so that verification reads a span's links as a
# range, in order; a patient's own history is one lookup in the (patient, entry) index.
journal_patients = sa.Table(
    "journal_patients",
    metadata,
    sa.Column("seq", BigInt, sa.ForeignKey("journal_entries.seq"), primary_key=True),
    sa.Column("patient_id", Id, primary_key=True),
    sa.Index("ix_journal_patients_patient_id_seq", "patient_id", "seq"),
    sqlite_with_rowid=False,
)

journal_head = sa.Table(
    "journal_head",
    metadata,
    sa.Column("id", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("size", BigInt, nullable=False),
    sa.Column("indexed", BigInt, nullable=False),
    # How many entries have their leaf hashes in stored tiles: a multiple of the tile width,
    # brought up after the fact (see coffre.journal.service.catch_up).
    sa.Column("hashed", BigInt, nullable=False, server_default="0"),
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
