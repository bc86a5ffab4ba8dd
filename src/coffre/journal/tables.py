"""The journal tables (protected: only coffre.journal imports this).

`seq` is gapless and assigned from `journal_head` inside the appending transaction, so the
entries form one linear log that a Merkle tree can cover leaf by leaf; `leaf_hash` is the
RFC 6962 leaf hash of the entry's canonical bytes.
"""

import sqlalchemy as sa

from coffre.store import BigInt, Id, Timestamp, metadata

journal_entries = sa.Table(
    "journal_entries",
    metadata,
    sa.Column("seq", BigInt, primary_key=True, autoincrement=False),
    sa.Column("entry_version", sa.SmallInteger, nullable=False),
    sa.Column("recorded_at", Timestamp, nullable=False, index=True),
    sa.Column("actor_kind", sa.String(16), nullable=False),
    sa.Column("actor_id", sa.String(120), nullable=False, index=True),
    sa.Column("organisation_id", Id, nullable=True),
    sa.Column("session_id", sa.String(64), nullable=True),
    sa.Column("source", sa.String(120), nullable=False),
    sa.Column("action", sa.String(64), nullable=False, index=True),
    sa.Column("purpose", sa.String(64), nullable=True),
    sa.Column("patient_ids", sa.Text, nullable=False),
    sa.Column("resource_ids", sa.Text, nullable=False),
    sa.Column("decision", sa.String(8), nullable=False),
    sa.Column("rule", sa.String(64), nullable=False),
    sa.Column("explanation", sa.Text, nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
)

# One row per (entry, patient): the patient's own history is one indexed lookup.
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
)
