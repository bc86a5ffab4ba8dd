"""The patient vault (protected: only coffre.records imports this).

Every identifying or clinical value is in a LargeBinary column sealed under the patient's
data key (see coffre.crypto.sealed); the clear columns hold ids, categories, sizes and times.
"""

import sqlalchemy as sa

from coffre.store import BigInt, Id, Timestamp, metadata

patients = sa.Table(
    "patients",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("organisation_id", Id, sa.ForeignKey("organisations.id"), nullable=False, index=True),
    sa.Column("key_version", sa.Integer, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Column("identity", sa.LargeBinary, nullable=False),
    sa.Column("contact", sa.LargeBinary, nullable=False),
)

patient_index = sa.Table(
    "patient_index",
    metadata,
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("digest", sa.LargeBinary(32), primary_key=True),
    sa.Column(
        "patient_id",
        Id,
        sa.ForeignKey("patients.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
)

# Records flagged `vip` (a public figure) or `staff` (a member of the structure's staff who
# is also its patient): each access to them carries the fact `flag`, for the watch.
patient_flags = sa.Table(
    "patient_flags",
    metadata,
    sa.Column("patient_id", Id, sa.ForeignKey("patients.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("flag", sa.String(16), primary_key=True),
    sa.Column("set_at", Timestamp, nullable=False),
    sa.Column("set_by", sa.String(120), nullable=False),
)

clinical_entries = sa.Table(
    "clinical_entries",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column(
        "patient_id",
        Id,
        sa.ForeignKey("patients.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("organisation_id", Id, nullable=False),
    sa.Column("category", sa.String(32), nullable=False),
    sa.Column("resource_type", sa.String(32), nullable=False),
    sa.Column("recorded_at", Timestamp, nullable=False),
    sa.Column("author_id", Id, nullable=True),
    sa.Column("key_version", sa.Integer, nullable=False),
    sa.Column("content", sa.LargeBinary, nullable=False),
)

documents = sa.Table(
    "documents",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column(
        "patient_id",
        Id,
        sa.ForeignKey("patients.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("organisation_id", Id, nullable=False),
    sa.Column("category", sa.String(32), nullable=False),
    sa.Column("content_type", sa.String(100), nullable=False),
    sa.Column("size", BigInt, nullable=False),
    sa.Column("chunk_count", sa.Integer, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("author_id", Id, nullable=True),
    sa.Column("key_version", sa.Integer, nullable=False),
    # title, file name and SHA-256 of the content, sealed as one JSON object
    sa.Column("meta", sa.LargeBinary, nullable=False),
)

document_chunks = sa.Table(
    "document_chunks",
    metadata,
    sa.Column(
        "document_id", Id, sa.ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("idx", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
)

# A document's sealed chunks while it arrives (records/filing.py): moved into
# `document_chunks` in the transaction that files and journals it, removed if it fails. No
# service reads them here.
document_uploads = sa.Table(
    "document_uploads",
    metadata,
    sa.Column("document_id", Id, primary_key=True),
    sa.Column("idx", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False, index=True),
)

# Kept after the patient's rows are gone: a key store restored from an older copy is
# reconciled against this list, and its keys destroyed again.
erasures = sa.Table(
    "erasures",
    metadata,
    sa.Column("patient_id", Id, primary_key=True),
    sa.Column("organisation_id", Id, nullable=False),
    sa.Column("erased_at", Timestamp, nullable=False),
    sa.Column("reason", sa.String(48), nullable=False),
    sa.Column("journal_seq", BigInt, nullable=False),
)

# The free-text reason a professional gave for an emergency access, sealed under the
# patient's key (it may name the patient's condition); the grant itself is an access fact.
emergency_reasons = sa.Table(
    "emergency_reasons",
    metadata,
    sa.Column("fact_id", Id, primary_key=True),
    sa.Column(
        "patient_id",
        Id,
        sa.ForeignKey("patients.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("organisation_id", Id, nullable=False),
    sa.Column("key_version", sa.Integer, nullable=False),
    sa.Column("reason", sa.LargeBinary, nullable=False),
)

# An insurer's members: its own member number for a patient (as a blind index, bound to the
# insurer: the number itself is not stored), and the period of cover.
memberships = sa.Table(
    "memberships",
    metadata,
    sa.Column("insurer_id", Id, sa.ForeignKey("organisations.id"), primary_key=True),
    sa.Column("member_digest", sa.LargeBinary(32), primary_key=True),
    sa.Column(
        "patient_id",
        Id,
        sa.ForeignKey("patients.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("covered_from", sa.Date, nullable=False),
    sa.Column("covered_until", sa.Date, nullable=True),
)

# Single-use sign-up links sent to the address a patient's record holds (only a SHA-256 of
# the link's token is stored), with that address sealed under the system secrets for the
# account's password resets.
sign_up_links = sa.Table(
    "sign_up_links",
    metadata,
    sa.Column("id_hash", sa.LargeBinary(32), primary_key=True),
    sa.Column(
        "patient_id",
        Id,
        sa.ForeignKey("patients.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("email", sa.LargeBinary, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False),
    sa.Column("used_at", Timestamp, nullable=True),
)
