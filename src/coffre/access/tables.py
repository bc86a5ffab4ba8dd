"""The facts access decisions rest on (protected: only coffre.access imports this).

One table, so that everything about one patient is read in one indexed query: each row is
a consent, a care relationship, an exclusion, a masked document or a break-the-glass grant,
in force from `started_at` until `ended_at` (revoked, ended, unmasked, expired) if set.
Rows are never updated but to end them, so the history of a patient's choices is kept.
"""

import sqlalchemy as sa

from coffre.store import Id, Timestamp, metadata

access_facts = sa.Table(
    "access_facts",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("patient_id", Id, nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),
    # consent: none; relationship: a professional or a care team; exclusion: a professional;
    # mask: a document; break-the-glass: a professional
    sa.Column("subject_id", sa.String(64), nullable=True),
    # relationship: its kind; break-the-glass: the reason code; mask: the document's author
    sa.Column("detail", sa.String(64), nullable=True),
    sa.Column("team", sa.Boolean, nullable=False, default=False),
    sa.Column("started_at", Timestamp, nullable=False),
    sa.Column("ended_at", Timestamp, nullable=True),
)
