"""Organisations and accounts (protected: only coffre.identity imports this)."""

import sqlalchemy as sa

from coffre.store import BigInt, Id, Timestamp, metadata

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
    # The last TOTP time step accepted: a code is never accepted twice.
    sa.Column("totp_last_step", BigInt, nullable=True),
    sa.Column("password_changed_at", Timestamp, nullable=True),
    # Suspended accounts sign nothing in and their sessions stop at the next request.
    sa.Column("suspended_at", Timestamp, nullable=True),
    sa.Column("suspended_by", sa.String(120), nullable=True),
    sa.Column("suspended_reason", sa.String(200), nullable=True),
    # Where password resets are sent: sealed under the system-secrets key.
    sa.Column("email", sa.LargeBinary, nullable=True),
    # The holder's own family name and postal address, as blind-index digests only (the
    # patients' FAMILY and ADDRESS kinds): a professional opening a relative's or a
    # neighbour's record is told to the watch. The names themselves are not stored.
    sa.Column("family_digest", sa.LargeBinary(32), nullable=True),
    sa.Column("address_digest", sa.LargeBinary(32), nullable=True),
)

# Server-side sessions: only the SHA-256 of the random session id is stored.
sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id_hash", sa.LargeBinary(32), primary_key=True),
    sa.Column("account_id", Id, sa.ForeignKey("accounts.id"), nullable=False, index=True),
    sa.Column("source", sa.String(120), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("last_seen_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False),  # the absolute timeout
    sa.Column("idle_seconds", sa.Integer, nullable=False),
    # The second factor was given (or the account needs none).
    sa.Column("mfa", sa.Boolean, nullable=False),
    sa.Column("reauthenticated_at", Timestamp, nullable=False),
    # A WebAuthn challenge in flight, used once, short-lived.
    sa.Column("challenge", sa.LargeBinary(64), nullable=True),
    sa.Column("challenge_expires_at", Timestamp, nullable=True),
    sa.Column("ended_at", Timestamp, nullable=True),
    sa.Column("ended_by", sa.String(120), nullable=True),
    sa.Column("ended_reason", sa.String(200), nullable=True),
)

# Failed sign-ins counted per keyed hash of a typed username and per source address.
sign_in_failures = sa.Table(
    "sign_in_failures",
    metadata,
    sa.Column("key", sa.LargeBinary(32), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("window_started_at", Timestamp, nullable=False),
    sa.Column("locked_until", Timestamp, nullable=True),
)

# Single-use recovery codes: SHA-256 of 80-bit random codes.
recovery_codes = sa.Table(
    "recovery_codes",
    metadata,
    sa.Column("code_hash", sa.LargeBinary(32), primary_key=True),
    sa.Column("account_id", Id, sa.ForeignKey("accounts.id"), nullable=False, index=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("used_at", Timestamp, nullable=True),
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

# WebAuthn passkeys: the credential's public key (COSE) and its signature counter.
passkeys = sa.Table(
    "passkeys",
    metadata,
    sa.Column("credential_id", sa.LargeBinary(1023), primary_key=True),
    sa.Column("account_id", Id, sa.ForeignKey("accounts.id"), nullable=False, index=True),
    sa.Column("public_key", sa.LargeBinary, nullable=False),
    sa.Column("sign_count", BigInt, nullable=False),
    sa.Column("transports", sa.String(200), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("last_used_at", Timestamp, nullable=True),
)

# Machine clients (SMART Backend Services): the client's public keys (JWKS, JSON), the SMART
# v2 scopes it may be given, its tokens' longest lifetime, its own expiry and its ceilings.
clients = sa.Table(
    "clients",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),  # the OAuth client_id
    sa.Column("organisation_id", Id, sa.ForeignKey("organisations.id"), nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("jwks", sa.Text, nullable=False),
    sa.Column("scopes", sa.String(1000), nullable=False),
    sa.Column("token_seconds", sa.Integer, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False),
    sa.Column("per_hour", sa.Integer, nullable=False),  # records per hour
    sa.Column("per_day", sa.Integer, nullable=False),  # records per 24 hours
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("revoked_at", Timestamp, nullable=True),
    sa.Column("suspended_at", Timestamp, nullable=True),
    sa.Column("suspended_by", sa.String(120), nullable=True),
    sa.Column("suspended_reason", sa.String(200), nullable=True),
)

# The ids (jti) of the client assertions accepted, kept until they expire: none is used twice.
client_assertions = sa.Table(
    "client_assertions",
    metadata,
    sa.Column("client_id", sa.String(64), sa.ForeignKey("clients.id"), primary_key=True),
    sa.Column("jti", sa.String(200), primary_key=True),
    sa.Column("expires_at", Timestamp, nullable=False),
)

# Bearer tokens of clients and personal access tokens: only the SHA-256 of the token is kept.
tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id_hash", sa.LargeBinary(32), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),  # client | personal
    sa.Column("client_id", sa.String(64), sa.ForeignKey("clients.id"), nullable=True, index=True),
    sa.Column("account_id", Id, sa.ForeignKey("accounts.id"), nullable=True, index=True),
    sa.Column("scopes", sa.String(1000), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False),
    sa.Column("revoked_at", Timestamp, nullable=True),
    sa.Column("suspended_at", Timestamp, nullable=True),
    sa.Column("suspended_by", sa.String(120), nullable=True),
    sa.Column("suspended_reason", sa.String(200), nullable=True),
)

# Records served to each client, per hour (the day is the sum of the last 24 hours), and the
# requests refused at a ceiling in that hour (the security officer is told of the first).
client_usage = sa.Table(
    "client_usage",
    metadata,
    sa.Column("client_id", sa.String(64), sa.ForeignKey("clients.id"), primary_key=True),
    sa.Column("hour", Timestamp, primary_key=True),
    sa.Column("records", sa.Integer, nullable=False),
    sa.Column("refused", sa.Integer, nullable=False),
)

# Password resets: single-use, short-lived; only the SHA-256 of the token is stored.
password_resets = sa.Table(
    "password_resets",
    metadata,
    sa.Column("id_hash", sa.LargeBinary(32), primary_key=True),
    sa.Column("account_id", Id, sa.ForeignKey("accounts.id"), nullable=False, index=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False),
    sa.Column("used_at", Timestamp, nullable=True),
)
