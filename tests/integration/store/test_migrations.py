"""The schema comes from Alembic migrations and matches what the domain packages declare."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import coffre.access.tables
import coffre.identity.tables
import coffre.journal.tables
import coffre.notify.tables
import coffre.records.tables
import coffre.watch.tables  # noqa: F401  (registers the tables on the shared metadata)
from coffre import store


def test_migrated_schema_matches_the_declared_tables(database_url):
    engine = store.make_engine(database_url)
    try:
        store.upgrade(engine)
        assert store.current_revision(engine) == store.head_revision()
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, store.metadata) == []
            assert conn.execute(sa.text("SELECT size FROM journal_head WHERE id = 1")).scalar() == 0
    finally:
        engine.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path):
    engine = store.make_engine(f"sqlite:///{tmp_path / 'x' / 'c.db'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA temp_store").scalar() == 2
    finally:
        engine.dispose()
    assert (tmp_path / "x" / "c.db").stat().st_mode & 0o777 == 0o600


def test_a_unit_of_work_rolls_back_unless_committed(database_url):
    engine = store.make_engine(database_url)
    try:
        store.upgrade(engine)
        uow = store.UnitOfWork(engine)
        with uow:
            uow.connection.execute(sa.text("UPDATE journal_head SET size = 41"))
        with uow:
            assert uow.connection.execute(sa.text("SELECT size FROM journal_head")).scalar() == 0
            uow.connection.execute(sa.text("UPDATE journal_head SET size = 42"))
            uow.commit()
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT size FROM journal_head")).scalar() == 42
    finally:
        engine.dispose()
