from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from coffre.store.engine import READ_ONLY, StoreError, alone, connect, release
from coffre.store.lean import Lean


class UnitOfWork:
    """One transaction on the main database; rolls back on exit unless committed. A
    `read_only` one takes no write lock (it must not write).

    Usage::

        with uow:
            uow.connection.execute(...)
            uow.commit()
    """

    def __init__(self, engine: Engine, *, read_only: bool = False) -> None:
        self.engine = engine
        self.read_only = read_only
        self._conn: sa.Connection | None = None
        self._tx: sa.RootTransaction | None = None
        self.committed = False

    def __enter__(self) -> UnitOfWork:
        if self._conn is not None:
            raise RuntimeError("a unit of work is not re-entrant")
        try:
            self._conn = connect(self.engine)
            # In place: a connection may serve read-only and writing units in turn.
            self._conn.execution_options(**{READ_ONLY: self.read_only})
            self._tx = self._conn.begin()
        except BaseException as error:
            if self._conn is not None:
                release(self.engine, self._conn)
                self._conn = None
            if isinstance(error, OperationalError):
                raise StoreError("The database cannot be reached.") from None
            raise
        self.committed = False
        return self

    def read_alone(self, statement: Lean, params: Mapping[str, Any]) -> Any | None:
        """The first row of one read-only statement run as a transaction of its own (this
        unit is not opened): one statement sees one consistent state by itself, so it runs
        without BEGIN and ROLLBACK, which cost more than a short query."""
        if self._conn is not None:
            raise RuntimeError("read_alone runs outside the unit of work, not in it")
        try:
            with alone(self.engine) as conn:
                return statement.first(conn, params, alone=True)
        except OperationalError:
            raise StoreError("The database cannot be reached.") from None

    def reading(self) -> UnitOfWork:
        """A read-only unit of work on the same database: it takes no write lock."""
        return UnitOfWork(self.engine, read_only=True)

    @property
    def connection(self) -> sa.Connection:
        if self._conn is None:
            raise RuntimeError("the unit of work is not open")
        return self._conn

    def commit(self) -> None:
        assert self._tx is not None
        self._tx.commit()
        self.committed = True

    def rollback(self) -> None:
        if self._tx is not None and self._tx.is_active:
            self._tx.rollback()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self.committed:
                self.rollback()
        finally:
            if self._conn is not None:
                release(self.engine, self._conn)
            self._conn = None
            self._tx = None
