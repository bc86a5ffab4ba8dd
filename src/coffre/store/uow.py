from __future__ import annotations

from types import TracebackType

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from coffre.store.engine import READ_ONLY, StoreError


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
            self._conn = self.engine.connect()
            if self.read_only:
                self._conn = self._conn.execution_options(**{READ_ONLY: True})
            self._tx = self._conn.begin()
        except OperationalError:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            raise StoreError("The database cannot be reached.") from None
        self.committed = False
        return self

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
                self._conn.close()
            self._conn = None
            self._tx = None
