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
