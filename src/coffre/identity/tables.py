"""Organisations and accounts (protected: only coffre.identity imports this)."""

import sqlalchemy as sa

from coffre.store import Id, Timestamp, metadata

organisations = sa.Table(
    "organisations",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("country", sa.String(2), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    # The organisation's profession × category matrix (TOML); it can only narrow the default.
    sa.Column("matrix", sa.Text, nullable=True),
)

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("organisation_id", Id, sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("username", sa.String(120), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("profession", sa.String(32), nullable=True),
    sa.Column("specialty", sa.String(64), nullable=True),
    sa.Column("professional_id", sa.String(32), nullable=True),
    sa.Column("display_name", sa.String(200), nullable=False),
    # TOTP secret sealed under the system-secrets key; never stored in clear.
    sa.Column("totp_secret", sa.LargeBinary, nullable=True),
    sa.Column("patient_id", Id, nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
)

care_teams = sa.Table(
    "care_teams",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("organisation_id", Id, sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)

care_team_members = sa.Table(
    "care_team_members",
    metadata,
    sa.Column("team_id", Id, sa.ForeignKey("care_teams.id"), primary_key=True),
    sa.Column("account_id", Id, sa.ForeignKey("accounts.id"), primary_key=True, index=True),
)

# A subcontractor's contract with a client organisation: the categories of that client's
# patient data it may read and write (comma-separated), from `started_at` to `ended_at`.
contracts = sa.Table(
    "contracts",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column(
        "subcontractor_id", Id, sa.ForeignKey("organisations.id"), nullable=False, index=True
    ),
    sa.Column("client_id", Id, sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("read", sa.String(400), nullable=False),
    sa.Column("write", sa.String(400), nullable=False),
    sa.Column("started_at", Timestamp, nullable=False),
    sa.Column("ended_at", Timestamp, nullable=True),
)
