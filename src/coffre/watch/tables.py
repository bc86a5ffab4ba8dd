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
    # Who follows with this cursor, and until when unless renewed (watch/follow.py): one
    # follower at a time. A process id on a host; never patient data.
    sa.Column("holder", sa.String(120), nullable=True),
    sa.Column("held_until", Timestamp, nullable=True),
)

# An alert: one per (rule, group) and episode, handled by the security officer of the
# organisation of the actor it is about. Ids and codes only (the officer's notes are apart).
watch_alerts = sa.Table(
    "watch_alerts",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("organisation_id", sa.String(36), nullable=True),
    sa.Column("rule_ref", sa.String(200), nullable=False),  # the rule's name, id or title
    sa.Column("rule_title", sa.String(300), nullable=False),
    # The rule's description: what it looks for and why it matters (ids and codes only).
    sa.Column("explanation", sa.String(1000), nullable=True),
    sa.Column("severity", sa.String(20), nullable=True),  # the rule's level
    sa.Column("group_key", sa.String(300), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("changed_by", sa.String(120), nullable=True),
    sa.Column("changed_at", Timestamp, nullable=True),
    sa.Column("first_at", Timestamp, nullable=False),
    sa.Column("last_at", Timestamp, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Index("ix_watch_alerts_rule_group", "rule_ref", "group_key"),
    sa.Index("ix_watch_alerts_organisation_state", "organisation_id", "state"),
)

# The security officer's notes on an alert, one for each change of state that carried one.
# Free text that may name people: sealed under the system-secrets key (watch/alerts.py),
# with the alert and the note's id as associated data.
watch_alert_notes = sa.Table(
    "watch_alert_notes",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column(
        "alert_id",
        sa.String(36),
        sa.ForeignKey("watch_alerts.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("state", sa.String(16), nullable=False),  # the state set with the note
    sa.Column("author", sa.String(120), nullable=False),  # an actor id
    sa.Column("written_at", Timestamp, nullable=False),
    sa.Column("sealed", sa.LargeBinary, nullable=False),
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

# Each actor's rolling profile (watch/profiles.py): ids and counts only, as JSON.
watch_profiles = sa.Table(
    "watch_profiles",
    metadata,
    # kind:id for Coffre's actors, imported:ORG:SOURCE:kind:id for imported logs' actors
    sa.Column("actor_key", sa.String(200), primary_key=True),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

# Other systems' audit logs (watch/imports.py): one row per import of a file…
watch_imports = sa.Table(
    "watch_imports",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("source", sa.String(120), nullable=False),  # the system the log came from
    sa.Column("format", sa.String(16), nullable=False),
    sa.Column("file_name", sa.String(255), nullable=False),
    sa.Column("lines", sa.Integer, nullable=False),  # the events imported
    # Whose security officer hears of the alerts its events raise (None: the operator's).
    sa.Column("organisation_id", sa.String(36), nullable=True),
    sa.Column("imported_at", Timestamp, nullable=False),
    sa.Column("imported_by", sa.String(120), nullable=False),
)

# …and its events, with the journal's field names as JSON (patient ids hashed). The id is
# the event's position, which the `imports` cursor follows.
watch_imported_events = sa.Table(
    "watch_imported_events",
    metadata,
    sa.Column("id", BigInt, primary_key=True, autoincrement=True),
    sa.Column(
        "batch_id",
        sa.String(36),
        sa.ForeignKey("watch_imports.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("source", sa.String(120), nullable=False),
    sa.Column("time", Timestamp, nullable=False),
    sa.Column("event", sa.Text, nullable=False),
    sa.Index("ix_watch_imported_events_batch", "batch_id"),
)

# The imported events that made an alert (their positions; journal entries are in
# watch_alert_entries).
watch_alert_imported_entries = sa.Table(
    "watch_alert_imported_entries",
    metadata,
    sa.Column(
        "alert_id",
        sa.String(36),
        sa.ForeignKey("watch_alerts.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("position", BigInt, primary_key=True),
)
