"""Where the watch keeps its place in the journal: one cursor per reader, so a restart
resumes at the first entry it had not finished with."""

import sqlalchemy as sa

from coffre.store import BigInt, Timestamp, metadata

watch_cursors = sa.Table(
    "watch_cursors",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    # The sequence number of the next entry to read.
    sa.Column("position", BigInt, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

# An alert: one per (rule, group) and episode, handled by the security officer of the
# organisation of the actor it is about. Ids and codes only; the note is the officer's own.
watch_alerts = sa.Table(
    "watch_alerts",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("organisation_id", sa.String(36), nullable=True),
    sa.Column("rule_ref", sa.String(200), nullable=False),  # the rule's name, id or title
    sa.Column("rule_title", sa.String(300), nullable=False),
    sa.Column("severity", sa.String(20), nullable=True),  # the rule's level
    sa.Column("group_key", sa.String(300), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("note", sa.String(500), nullable=True),
    sa.Column("changed_by", sa.String(120), nullable=True),
    sa.Column("changed_at", Timestamp, nullable=True),
    sa.Column("first_at", Timestamp, nullable=False),
    sa.Column("last_at", Timestamp, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Index("ix_watch_alerts_rule_group", "rule_ref", "group_key"),
    sa.Index("ix_watch_alerts_organisation_state", "organisation_id", "state"),
)

# The journal entries that made an alert (their sequence numbers).
watch_alert_entries = sa.Table(
    "watch_alert_entries",
    metadata,
    sa.Column(
        "alert_id",
        sa.String(36),
        sa.ForeignKey("watch_alerts.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("seq", BigInt, primary_key=True),
)
