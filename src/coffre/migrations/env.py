"""Alembic environment: runs against the engine handed over by coffre.store.upgrade.

Migrations are written by hand with plain SQLAlchemy constructs; a test compares the
migrated schema with the tables the domain packages declare.
"""

from alembic import context

config = context.config
engine = config.attributes.get("engine")
if engine is None:
    raise RuntimeError("migrations run through coffre.store.upgrade(engine)")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
