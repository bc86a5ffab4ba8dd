"""The notification outbox (protected: only coffre.notify imports this).

A row names its recipient by id (a patient, or an organisation's data-protection officer),
the kind of message and its parameters (ids, codes, times and professionals' names: never
a patient's data); the text is written in the reader's language when it is delivered.
"""

import sqlalchemy as sa

from coffre.store import BigInt, Id, Timestamp, metadata

notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("recipient_kind", sa.String(16), nullable=False),
    sa.Column("recipient_id", Id, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("journal_seq", BigInt, nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("delivered_at", Timestamp, nullable=True),
    sa.Index("ix_notifications_recipient", "recipient_kind", "recipient_id"),
)
