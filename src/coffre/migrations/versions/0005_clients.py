"""Machine clients: their keys, scopes, lifetimes and ceilings; the client assertions
already used; client and personal access tokens; clients' hourly usage.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ID = sa.String(length=36)
_CLIENT = sa.String(length=64)
_TIME = sa.DateTime(timezone=True)


def _suspension() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("revoked_at", _TIME, nullable=True),
        sa.Column("suspended_at", _TIME, nullable=True),
        sa.Column("suspended_by", sa.String(length=120), nullable=True),
        sa.Column("suspended_reason", sa.String(length=200), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "clients",
        sa.Column("id", _CLIENT, nullable=False),
        sa.Column("organisation_id", _ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("jwks", sa.Text(), nullable=False),
        sa.Column("scopes", sa.String(length=1000), nullable=False),
        sa.Column("token_seconds", sa.Integer(), nullable=False),
        sa.Column("expires_at", _TIME, nullable=False),
        sa.Column("per_hour", sa.Integer(), nullable=False),
        sa.Column("per_day", sa.Integer(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        *_suspension(),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_clients_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clients")),
    )
    op.create_index(op.f("ix_clients_organisation_id"), "clients", ["organisation_id"])
    op.create_table(
        "client_assertions",
        sa.Column("client_id", _CLIENT, nullable=False),
        sa.Column("jti", sa.String(length=200), nullable=False),
        sa.Column("expires_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_client_assertions_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("client_id", "jti", name=op.f("pk_client_assertions")),
    )
    op.create_table(
        "tokens",
        sa.Column("id_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("client_id", _CLIENT, nullable=True),
        sa.Column("account_id", _ID, nullable=True),
        sa.Column("scopes", sa.String(length=1000), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("expires_at", _TIME, nullable=False),
        *_suspension(),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_tokens_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_tokens_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_tokens")),
    )
    op.create_index(op.f("ix_tokens_account_id"), "tokens", ["account_id"])
    op.create_index(op.f("ix_tokens_client_id"), "tokens", ["client_id"])
    op.create_table(
        "client_usage",
        sa.Column("client_id", _CLIENT, nullable=False),
        sa.Column("hour", _TIME, nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_client_usage_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("client_id", "hour", name=op.f("pk_client_usage")),
    )


def downgrade() -> None:
    op.drop_table("client_usage")
    op.drop_index(op.f("ix_tokens_client_id"), table_name="tokens")
    op.drop_index(op.f("ix_tokens_account_id"), table_name="tokens")
    op.drop_table("tokens")
    op.drop_table("client_assertions")
    op.drop_index(op.f("ix_clients_organisation_id"), table_name="clients")
    op.drop_table("clients")
