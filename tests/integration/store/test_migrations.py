"""The schema comes from Alembic migrations and matches what the domain packages declare."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
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
from coffre.access import Decision
from coffre.identity import Actor, ActorKind
from coffre.journal import Entry, EventKind, Outcome
from coffre.journal.entries import encode, timestamp


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


def test_the_journal_s_repeated_columns_go_and_come_back_from_the_bytes(database_url):
    """0017 drops the columns that repeated an entry's time, actor and action; going back
    fills them again from the canonical bytes, which stay as they were. 0018 keeps the
    patient links, in entry order, and gives them back on the way down."""
    actor = Actor(kind=ActorKind.ACCOUNT, id="account:anä", role="practitioner", source="::1")
    allow = Decision(True, "care-read", "the practitioner treats the patient")
    moment = datetime(2026, 5, 1, 10, 30, tzinfo=UTC)
    entry = Entry(EventKind.PATIENT_READ, actor, allow, Outcome.SUCCESS, None, ("p",), (), moment)
    data = [encode(seq, entry, timestamp(moment)) for seq in range(3)]
    repeated = ("recorded_at", "actor_id", "action")
    insert = sa.text(
        "INSERT INTO journal_entries (seq, recorded_at, actor_id, action, entry) "
        "VALUES (:seq, :t, :a, :c, :e)"
    ).bindparams(sa.bindparam("e", type_=sa.LargeBinary))
    links = [{"p": "q", "s": 1}, *({"p": "p", "s": n} for n in range(3))]
    engine = store.make_engine(database_url)
    try:
        store.upgrade(engine, "0016")
        with engine.begin() as conn:
            rows = [
                {"seq": n, "t": timestamp(moment), "a": actor.id, "c": str(entry.kind), "e": d}
                for n, d in enumerate(data)
            ]
            conn.execute(insert, rows)
            conn.execute(sa.text("INSERT INTO journal_patients VALUES (:p, :s)"), links)
        store.upgrade(engine)
        assert _links(engine) == [("p", 0), ("p", 1), ("q", 1), ("p", 2)]
        columns = {c["name"] for c in sa.inspect(engine).get_columns("journal_entries")}
        assert columns == {"seq", "entry"}
        with engine.connect() as conn:
            kept = conn.execute(sa.text("SELECT entry FROM journal_entries ORDER BY seq"))
            assert [bytes(e) for (e,) in kept] == data
        store.downgrade(engine, "0016")
        with engine.connect() as conn:
            back = conn.execute(
                sa.text(f"SELECT {', '.join(repeated)}, entry FROM journal_entries ORDER BY seq")
            ).all()
        assert [tuple(row[:3]) for row in back] == [
            (timestamp(moment), actor.id, str(entry.kind))
        ] * 3
        assert [bytes(row[3]) for row in back] == data
        assert _links(engine) == [("p", 0), ("p", 1), ("q", 1), ("p", 2)]
        store.upgrade(engine)
    finally:
        engine.dispose()


def _links(engine: sa.Engine) -> list[tuple[str, int]]:
    with engine.connect() as conn:
        found = conn.execute(sa.text("SELECT patient_id, seq FROM journal_patients"))
        return sorted(((p, s) for p, s in found), key=lambda link: (link[1], link[0]))


def test_the_mark_of_stored_hashes_starts_at_the_last_complete_tile(database_url):
    """0019: appending no longer stores tiles; the mark starts where appending left them, and
    going back is refused while stored hashes lag behind (the next append would need them)."""
    head = sa.text("UPDATE journal_head SET size = :size, hashed = :hashed")
    engine = store.make_engine(database_url)
    try:
        store.upgrade(engine, "0018")
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE journal_head SET size = 600"))
        store.upgrade(engine)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT hashed FROM journal_head")).scalar_one() == 512
        with engine.begin() as conn:
            conn.execute(head, {"size": 800, "hashed": 512})
        with pytest.raises(RuntimeError, match="stored hashes lag behind"):
            store.downgrade(engine, "0018")
        with engine.begin() as conn:
            conn.execute(head, {"size": 800, "hashed": 768})
        store.downgrade(engine, "0018")
        columns = {c["name"] for c in sa.inspect(engine).get_columns("journal_head")}
        assert columns == {"id", "size", "indexed"}
    finally:
        engine.dispose()


def test_the_head_revision_is_the_scripts_newest():
    newest = store.script_head()
    assert store.head_revision() == newest, (
        f"a new migration: set HEAD_REVISION in coffre/store/migrate.py to {newest!r}"
    )


def test_a_database_without_a_schema_has_no_revision(database_url):
    engine = store.make_engine(database_url)
    try:
        assert store.current_revision(engine) is None
        assert store.pending_migrations(engine)[0].revision == "0001"
    finally:
        engine.dispose()


def test_the_pending_migrations_are_listed_and_told_as_they_run(database_url):
    engine = store.make_engine(database_url)
    try:
        store.upgrade(engine, "0016")
        steps = store.pending_migrations(engine)
        later = [step.revision for step in steps]
        assert later[0] == "0017" and later[-1] == store.head_revision()
        assert len(later) == len(set(later))
        assert all(0 < len(step.title) <= 72 and "\n" not in step.title for step in steps)
        assert steps[0].title == "Journal: an entry is stored as its canonical bytes alone"
        applied: list[str] = []
        store.upgrade(engine, applied=applied.append)
        assert applied == later
        assert store.pending_migrations(engine) == []
        store.downgrade(engine, "0018")  # a step back is not told as applied
        assert applied == later
        store.upgrade(engine)
    finally:
        engine.dispose()


def test_a_schema_newer_than_this_version_is_named_not_migrated(database_url):
    engine = store.make_engine(database_url)
    try:
        store.upgrade(engine)
        assert store.known_revision(store.head_revision())
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = '9042'"))
        assert not store.known_revision("9042")
        with pytest.raises(store.StoreError, match="revision 9042, which this version"):
            store.pending_migrations(engine)
    finally:
        engine.dispose()
