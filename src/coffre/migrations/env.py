"""Alembic environment: runs against the engine handed over by coffre.store.upgrade.

Migrations are written by hand with plain SQLAlchemy constructs; a test compares the
migrated schema with the tables the domain packages declare.
"""

from alembic import context
from alembic.runtime.migration import MigrationInfo

config = context.config
engine = config.attributes.get("engine")
if engine is None:
    raise RuntimeError("migrations run through coffre.store.upgrade(engine)")

applied = config.attributes.get("applied")


def tell(*, step: MigrationInfo, **_: object) -> None:
    if applied is not None and step.is_upgrade:
        applied(step.up_revision_id)


with engine.connect() as connection:
    context.configure(
        connection=connection,
        render_as_batch=connection.dialect.name == "sqlite",
        on_version_apply=tell,
    )
    with context.begin_transaction():
        context.run_migrations()
