"""Lean statements give what SQLAlchemy's own execution gives (same rows, same types, same
conversions, same errors), on SQLite and PostgreSQL, and refuse what they cannot run."""

from __future__ import annotations

import enum
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coffre.store import Lean, Timestamp, UnitOfWork, make_engine, run_many

_meta = sa.MetaData()


class Colour(enum.StrEnum):
    RED = "red"
    BLUE = "blue"


things = sa.Table(
    "lean_things",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(40), nullable=False),
    sa.Column("at", Timestamp, nullable=True),
    sa.Column("flag", sa.Boolean, nullable=False),
    sa.Column("blob", sa.LargeBinary, nullable=True),
    sa.Column("colour", sa.String(10), nullable=False),
)

BY_ID = sa.select(things).where(things.c.id == sa.bindparam("id"))
SINCE = (
    sa.select(things.c.id, things.c.at, sa.literal("x").label("tag"))
    .where(things.c.at >= sa.bindparam("since"), things.c.colour == Colour.RED.value)
    .order_by(things.c.id)
)
BY_FLAG = sa.select(things.c.id).where(things.c.flag == sa.bindparam("flag")).order_by(things.c.id)
RENAME = things.update().where(things.c.id == sa.bindparam("key")).values(name=sa.bindparam("new"))
BUMP = (
    things.update()
    .where(things.c.id == sa.bindparam("key"))
    .values(id=things.c.id + 1000)
    .returning(things.c.id, things.c.at)
)
ADD = things.insert().values(
    id=sa.bindparam("id"),
    name=sa.bindparam("name"),
    at=sa.bindparam("at"),
    flag=sa.bindparam("flag"),
    blob=sa.bindparam("blob"),
    colour=sa.bindparam("colour"),
)


@pytest.fixture
def engine(database_url):  # type: ignore[no-untyped-def]
    made = make_engine(database_url)
    _meta.create_all(made)
    yield made
    made.dispose()


def _fill(engine: sa.Engine, rows: list[dict]) -> None:  # type: ignore[type-arg]
    with UnitOfWork(engine) as uow:
        uow.connection.execute(things.delete())
        for row in rows:
            Lean(ADD).run(uow.connection, row)
        uow.commit()


moments = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
rows = st.lists(
    st.fixed_dictionaries(
        {
            "name": st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40),
            "at": st.none() | moments,
            "flag": st.booleans(),
            "blob": st.none() | st.binary(max_size=64),
            "colour": st.sampled_from(list(Colour)),
        }
    ),
    max_size=8,
).map(lambda found: [{"id": n + 1, **row} for n, row in enumerate(found)])


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(stored=rows, since=moments, flag=st.booleans())
def test_lean_rows_are_those_sqlalchemy_reads(engine, stored, since, flag):
    _fill(engine, stored)
    with UnitOfWork(engine, read_only=True) as uow:
        conn = uow.connection
        for statement, params in (
            (BY_ID, {"id": 1}),
            (BY_ID, {"id": 99}),
            (SINCE, {"since": since}),
            (BY_FLAG, {"flag": flag}),
        ):
            expected = [tuple(row) for row in conn.execute(statement, params)]
            lean = Lean(statement)
            assert [tuple(row) for row in lean.rows(conn, params)] == expected
            first = lean.first(conn, params)
            assert (None if first is None else tuple(first)) == (expected or [None])[0]


def test_rows_are_named_and_times_come_back_aware(engine):
    at = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    _fill(
        engine,
        [{"id": 7, "name": "Ana", "at": at, "flag": True, "blob": b"\x00\xff", "colour": "red"}],
    )
    with UnitOfWork(engine, read_only=True) as uow:
        row = Lean(BY_ID).first(uow.connection, {"id": 7})
        assert (row.name, row.at, row.flag, bytes(row.blob)) == ("Ana", at, True, b"\x00\xff")
        assert row.at.tzinfo is not None
        assert Lean(SINCE).first(uow.connection, {"since": at - timedelta(days=1)}).id == 7
        assert Lean(SINCE).first(uow.connection, {"since": at + timedelta(seconds=1)}) is None


def test_changes_count_rows_return_and_roll_back_with_the_unit(engine):
    at = datetime(2026, 3, 1, tzinfo=UTC)
    _fill(engine, [{"id": 1, "name": "a", "at": at, "flag": False, "blob": None, "colour": "blue"}])
    with UnitOfWork(engine) as uow:
        assert Lean(RENAME).run(uow.connection, {"key": 1, "new": "b"}) == 1
        assert Lean(RENAME).run(uow.connection, {"key": 2, "new": "b"}) == 0
        assert [tuple(r) for r in Lean(BUMP).rows(uow.connection, {"key": 1})] == [(1001, at)]
        # Not committed: all of it goes with the unit.
    with UnitOfWork(engine, read_only=True) as uow:
        assert [(r.id, r.name) for r in Lean(sa.select(things)).rows(uow.connection)] == [(1, "a")]


def test_driver_errors_are_sqlalchemy_errors_and_leave_the_unit_usable_to_roll_back(engine):
    _fill(
        engine, [{"id": 1, "name": "a", "at": None, "flag": False, "blob": None, "colour": "red"}]
    )
    again = {"id": 1, "name": "b", "at": None, "flag": True, "blob": None, "colour": "red"}
    with UnitOfWork(engine) as uow, pytest.raises(sa.exc.IntegrityError):
        Lean(ADD).run(uow.connection, again)
    with UnitOfWork(engine, read_only=True) as uow:
        [(count,)] = Lean(sa.select(sa.func.count()).select_from(things)).rows(uow.connection)
        assert count == 1


def test_statements_it_cannot_run_plainly_are_refused_when_first_run(engine):
    expanding = sa.select(things.c.id).where(things.c.id.in_(sa.bindparam("ids", expanding=True)))
    with (
        UnitOfWork(engine, read_only=True) as uow,
        pytest.raises(ValueError, match="not a plain statement"),
    ):
        Lean(expanding).rows(uow.connection, {"ids": [1]})


def test_a_lean_statement_needs_an_open_transaction(engine):
    with engine.connect() as conn, pytest.raises(RuntimeError, match="unit of work"):
        Lean(BY_ID).first(conn, {"id": 1})


def test_many_rows_in_the_drivers_own_style_are_one_call_and_fail_as_one(engine):
    with UnitOfWork(engine) as uow:
        marker = "?" if uow.connection.dialect.paramstyle == "qmark" else "%s"
        sql = f"INSERT INTO lean_things (id, name, flag, colour) VALUES ({', '.join([marker] * 4)})"
        run_many(uow.connection, sql, [(1, "a", True, "red"), (2, "b", False, "blue")])
        with pytest.raises(sa.exc.IntegrityError):
            run_many(uow.connection, sql, [(3, "c", True, "red"), (1, "again", True, "red")])
        uow.rollback()
    with UnitOfWork(engine) as uow:
        run_many(uow.connection, sql, [(1, "a", True, "red"), (2, "b", False, "blue")])
        uow.commit()
    with UnitOfWork(engine, read_only=True) as uow:
        found = Lean(sa.select(things.c.id, things.c.flag).order_by(things.c.id)).rows(
            uow.connection
        )
        assert [tuple(row) for row in found] == [(1, True), (2, False)]


def test_a_read_alone_sees_what_is_committed_and_waits_for_no_writer(engine):
    _fill(
        engine, [{"id": 1, "name": "a", "at": None, "flag": False, "blob": None, "colour": "red"}]
    )
    with UnitOfWork(engine) as writer:
        Lean(RENAME).run(writer.connection, {"key": 1, "new": "pending"})
        row = UnitOfWork(engine).read_alone(Lean(BY_ID), {"id": 1})
        assert row.name == "a"
        assert UnitOfWork(engine).read_alone(Lean(BY_ID), {"id": 2}) is None
        writer.commit()
    assert UnitOfWork(engine).read_alone(Lean(BY_ID), {"id": 1}).name == "pending"
    with UnitOfWork(engine) as opened, pytest.raises(RuntimeError, match="outside"):
        opened.read_alone(Lean(BY_ID), {"id": 1})
