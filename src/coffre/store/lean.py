"""Statements on every request's path, compiled once per database and run on the driver's
cursor.

SQLAlchemy's execution of a cached statement (cache key, execution context, result object,
row processing, events) costs several times what SQLite spends running a short query. On
the audited read's path (the token check, the patient's facts and marks, the sealed row,
the journal's head and tiles) that overhead was most of the request. A `Lean` statement is
compiled by SQLAlchemy for the connection's dialect once, with the bind and result
processors of its types, and then run on the DBAPI cursor of the unit of work's
connection, inside its open transaction. Driver errors are raised as SQLAlchemy's own
exceptions, as `Connection.execute` raises them.

Only plain statements qualify: no expanding (IN) or post-compile parameters, no parameter
name that the dialect must escape. Any other is refused when first compiled (ValueError),
so a statement that cannot be run this way fails in the tests, not in production.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from typing import Any

import sqlalchemy as sa

_Processor = Callable[[Any], Any] | None


class Lean:
    """A statement to run often: `rows`, `first` or `run` it on an open
    connection with the parameters of its bind names (bound values default to those
    written in the statement)."""

    def __init__(self, statement: sa.Executable) -> None:
        self.statement = statement
        self._by_dialect: dict[tuple[str, str], _Compiled] = {}

    def rows(self, conn: sa.Connection, params: Mapping[str, Any] | None = None) -> list[Any]:
        """Every row, as named tuples of the statement's columns."""
        compiled = self._compiled(conn)
        values = compiled.parameters(params or {})
        return compiled.rows(_run(conn, compiled.sql, values, _FETCH_ALL))

    def first(
        self, conn: sa.Connection, params: Mapping[str, Any] | None = None, *, alone: bool = False
    ) -> Any | None:
        """The first row, or None. `alone`: the statement is a transaction of its own
        (see `UnitOfWork.read_alone`), not run in the connection's."""
        compiled = self._compiled(conn)
        values = compiled.parameters(params or {})
        row = _run(conn, compiled.sql, values, _FETCH_ONE, alone=alone)
        return None if row is None else compiled.rows([row])[0]

    def run(self, conn: sa.Connection, params: Mapping[str, Any] | None = None) -> int:
        """Run a statement that returns no rows; the count of rows it changed."""
        compiled = self._compiled(conn)
        values = compiled.parameters(params or {})
        return int(_run(conn, compiled.sql, values, _ROW_COUNT))

    def _compiled(self, conn: sa.Connection) -> _Compiled:
        dialect = conn.dialect
        key = (dialect.name, dialect.driver)
        compiled = self._by_dialect.get(key)
        if compiled is None:
            compiled = self._by_dialect[key] = _Compiled(self.statement, dialect)
        return compiled


class _Compiled:
    """One statement compiled for one dialect: its SQL, how to order and convert its
    parameters, and how to convert and name its result columns."""

    def __init__(self, statement: sa.Executable, dialect: sa.Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        binds = compiled.binds
        if (
            compiled.escaped_bind_names
            or "__[POSTCOMPILE" in compiled.string
            or any(bind.expanding for bind in binds.values())
        ):
            raise ValueError(f"not a plain statement for {dialect.name}: {compiled.string}")
        self.sql = compiled.string
        self.positional = bool(dialect.positional)
        names = list(compiled.positiontup or ()) if self.positional else list(binds)
        self.binds: list[tuple[str, Any, _Processor]] = [
            (
                name,
                binds[name].effective_value,
                binds[name].type.dialect_impl(dialect).bind_processor(dialect),
            )
            for name in names
        ]
        columns = getattr(statement, "exported_columns", None) or ()
        self.results: list[_Processor] = [
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        ]
        # The columns whose values the driver's differ from the type's: (index, processor).
        self.converters = [(n, f) for n, f in enumerate(self.results) if f is not None]
        self.row = namedtuple("LeanRow", list(columns.keys())) if columns else None  # type: ignore[misc]

    def parameters(self, params: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        values = []
        for name, default, processor in self.binds:
            value = params.get(name, default)
            values.append(value if processor is None or value is None else processor(value))
        if self.positional:
            return values
        return dict(zip((name for name, _, _ in self.binds), values, strict=True))

    def rows(self, raw: Sequence[Sequence[Any]]) -> list[Any]:
        make = self.row
        assert make is not None, "the statement returns no rows"
        converters = self.converters
        if not converters:
            return [make._make(row) for row in raw]
        made = []
        for row in raw:
            values = list(row)
            for index, processor in converters:
                values[index] = processor(values[index])
            made.append(make._make(values))
        return made


def run_many(conn: sa.Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """Run `sql`, written in the driver's own parameter style, once for each row of plain
    values, on the driver's cursor in the connection's transaction: what
    `Connection.exec_driver_sql(sql, rows)` does, without its machinery."""
    _run(conn, sql, rows, _NOTHING, many=True)


def run_rows(conn: sa.Connection, sql: str, values: Any) -> list[Any]:
    """Run `sql`, written in the driver's own parameter style, with `values` on the
    driver's cursor in the connection's transaction, and return its rows as the driver
    gives them."""
    return _run(conn, sql, values, _FETCH_ALL)  # type: ignore[no-any-return]


# What `_run` takes from the driver's cursor once the statement has run.
_FETCH_ALL = 0
_FETCH_ONE = 1
_ROW_COUNT = 2
_NOTHING = 3


def _run(
    conn: sa.Connection,
    sql: str,
    values: Any,
    take: int,
    *,
    many: bool = False,
    alone: bool = False,
) -> Any:
    """Run `sql` on a cursor of the driver and take what `take` says from it (the rows, the
    first row, the count of rows changed, or nothing), then close the cursor; the driver's
    errors, while running or fetching, raised as SQLAlchemy's (a lost connection is
    invalidated, as SQLAlchemy does). A plain function, not a context manager: it runs
    several times on every request's path."""
    if not alone and not conn.in_transaction():
        raise RuntimeError("a lean statement runs inside a unit of work's transaction")
    dbapi_connection = conn.connection.dbapi_connection
    assert dbapi_connection is not None
    cursor = dbapi_connection.cursor()
    dbapi = conn.dialect.loaded_dbapi
    try:
        if many:
            cursor.executemany(sql, values)
        else:
            cursor.execute(sql, values)
        if take == _FETCH_ALL:
            return cursor.fetchall()
        if take == _FETCH_ONE:
            return cursor.fetchone()
        return cursor.rowcount if take == _ROW_COUNT else None
    except dbapi.Error as error:
        lost = conn.dialect.is_disconnect(error, dbapi_connection, cursor)
        wrapped = sa.exc.DBAPIError.instance(
            sql, values, error, dbapi.Error, dialect=conn.dialect, connection_invalidated=lost
        )
        if lost:
            conn.invalidate(error)
        raise wrapped from error
    finally:
        with suppress(dbapi.Error):  # a connection lost meanwhile has nothing to close
            cursor.close()
