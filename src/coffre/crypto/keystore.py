"""The key store: wrapped data keys and system keys, kept apart from the main database.

It is its own database (a SQLite file under $COFFRE_HOME/keys by default, or any URL in
COFFRE_KEYSTORE_URL), so a dump or backup of the main database never carries a data key.
Destroying a subject's row here makes every copy of that subject's ciphertexts unreadable.
SQLite's `secure_delete` overwrites destroyed rows in the file itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from coffre.crypto.errors import KeyStoreError

SCHEMA_VERSION = "1"

_meta = sa.MetaData()

data_keys = sa.Table(
    "data_keys",
    _meta,
    sa.Column("subject_id", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("kek_id", sa.String(64), nullable=False, index=True),
    sa.Column("wrapped", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

system_keys = sa.Table(
    "system_keys",
    _meta,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("kek_id", sa.String(64), nullable=False),
    sa.Column("wrapped", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

destroyed_keys = sa.Table(
    "destroyed_keys",
    _meta,
    sa.Column("subject_id", sa.String(64), primary_key=True),
    sa.Column("destroyed_at", sa.DateTime(timezone=True), nullable=False),
)

store_meta = sa.Table(
    "keystore_meta",
    _meta,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(256), nullable=False),
)


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.execute("PRAGMA journal_mode=DELETE")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


class KeyStore:
    """Rows of wrapped keys; knows nothing of how to unwrap them."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            # The engine first: an unusable URL must not leave a file behind.
            self.engine: Engine = sa.create_engine(url)
            database = self.engine.url.database
            if self.engine.dialect.name == "sqlite" and database and database != ":memory:":
                path = Path(database)
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                if not path.exists():
                    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
                sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            elif self.engine.dialect.name == "sqlite":
                sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        except (SQLAlchemyError, OSError, ValueError) as exc:
            raise KeyStoreError(f"Cannot open the key store: {type(exc).__name__}.") from None

    def create(self) -> None:
        """Create the tables if missing (idempotent)."""
        try:
            _meta.create_all(self.engine)
            with self.engine.begin() as conn:
                found = conn.execute(
                    sa.select(store_meta.c.value).where(store_meta.c.name == "schema")
                ).scalar()
                if found is None:
                    conn.execute(store_meta.insert().values(name="schema", value=SCHEMA_VERSION))
        except SQLAlchemyError as exc:
            raise KeyStoreError(f"Cannot create the key store: {type(exc).__name__}.") from None

    def check(self) -> None:
        """Raise KeyStoreError unless the store exists and has a schema this code knows."""
        try:
            with self.engine.connect() as conn:
                version = conn.execute(
                    sa.select(store_meta.c.value).where(store_meta.c.name == "schema")
                ).scalar()
        except SQLAlchemyError:
            version = None
        if version != SCHEMA_VERSION:
            raise KeyStoreError("The key store is missing or not initialised; run 'coffre init'.")

    # data keys -------------------------------------------------------------

    def put_data_keys(self, rows: list[tuple[str, int, str, bytes]]) -> None:
        """Store (subject id, version, kek id, wrapped) rows in one transaction."""
        if not rows:
            return
        now = datetime.now(UTC)
        with self._begin() as conn:
            conn.execute(
                data_keys.insert(),
                [
                    {"subject_id": s, "version": v, "kek_id": k, "wrapped": w, "created_at": now}
                    for s, v, k, w in rows
                ],
            )

    def get_data_key(self, subject_id: str, version: int) -> tuple[str, bytes] | None:
        """Return (kek id, wrapped) or None when there is no such key."""
        with self._connect() as conn:
            row = conn.execute(
                sa.select(data_keys.c.kek_id, data_keys.c.wrapped).where(
                    data_keys.c.subject_id == subject_id, data_keys.c.version == version
                )
            ).first()
        return None if row is None else (row.kek_id, row.wrapped)

    def is_destroyed(self, subject_id: str) -> bool:
        with self._connect() as conn:
            return (
                conn.execute(
                    sa.select(destroyed_keys.c.subject_id).where(
                        destroyed_keys.c.subject_id == subject_id
                    )
                ).first()
                is not None
            )

    def destroy(self, subject_ids: list[str]) -> int:
        """Delete every key of these subjects and leave a tombstone; return rows deleted."""
        now = datetime.now(UTC)
        with self._begin() as conn:
            deleted = conn.execute(
                data_keys.delete().where(data_keys.c.subject_id.in_(subject_ids))
            ).rowcount
            # A tombstone another destruction of the same subject may be writing at this
            # moment (an erasure, and the reconciliation at start): kept as it is.
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            for subject_id in dict.fromkeys(subject_ids):
                conn.execute(
                    dialect.insert(destroyed_keys)
                    .values(subject_id=subject_id, destroyed_at=now)
                    .on_conflict_do_nothing(index_elements=[destroyed_keys.c.subject_id])
                )
        return int(deleted)

    def subjects_with_keys(self, subject_ids: list[str]) -> list[str]:
        """The subset of `subject_ids` that still has a data key here."""
        found: list[str] = []
        with self._connect() as conn:
            for start in range(0, len(subject_ids), 500):
                batch = subject_ids[start : start + 500]
                found.extend(
                    conn.execute(
                        sa.select(data_keys.c.subject_id)
                        .where(data_keys.c.subject_id.in_(batch))
                        .distinct()
                    ).scalars()
                )
        return found

    def count_data_keys(self, *, not_under: str | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(data_keys)
        if not_under is not None:
            query = query.where(data_keys.c.kek_id != not_under)
        with self._connect() as conn:
            return int(conn.execute(query).scalar_one())

    def data_keys_not_under(self, kek_id: str, limit: int) -> list[tuple[str, int, str, bytes]]:
        with self._connect() as conn:
            rows = conn.execute(
                sa.select(data_keys)
                .where(data_keys.c.kek_id != kek_id)
                .order_by(data_keys.c.subject_id, data_keys.c.version)
                .limit(limit)
            ).all()
        return [(r.subject_id, r.version, r.kek_id, r.wrapped) for r in rows]

    def replace_wrapped(self, rows: list[tuple[str, int, str, bytes]]) -> None:
        """Re-wrapped keys, swapped in one transaction; data is never touched."""
        with self._begin() as conn:
            for subject_id, version, kek_id, wrapped in rows:
                conn.execute(
                    data_keys.update()
                    .where(data_keys.c.subject_id == subject_id, data_keys.c.version == version)
                    .values(kek_id=kek_id, wrapped=wrapped)
                )

    # system keys and meta --------------------------------------------------

    def get_system_key(self, name: str) -> tuple[str, bytes] | None:
        with self._connect() as conn:
            row = conn.execute(
                sa.select(system_keys.c.kek_id, system_keys.c.wrapped).where(
                    system_keys.c.name == name
                )
            ).first()
        return None if row is None else (row.kek_id, row.wrapped)

    def put_system_key(
        self, name: str, kek_id: str, wrapped: bytes, *, replace: bool = False
    ) -> None:
        with self._begin() as conn:
            if replace:
                conn.execute(
                    system_keys.update()
                    .where(system_keys.c.name == name)
                    .values(kek_id=kek_id, wrapped=wrapped)
                )
            else:
                conn.execute(
                    system_keys.insert().values(
                        name=name, kek_id=kek_id, wrapped=wrapped, created_at=datetime.now(UTC)
                    )
                )

    def system_keys(self) -> Iterator[tuple[str, str, bytes]]:
        with self._connect() as conn:
            rows = conn.execute(sa.select(system_keys)).all()
        for row in rows:
            yield row.name, row.kek_id, row.wrapped

    def get_meta(self, name: str) -> str | None:
        with self._connect() as conn:
            return conn.execute(
                sa.select(store_meta.c.value).where(store_meta.c.name == name)
            ).scalar()

    def set_meta(self, name: str, value: str | None) -> None:
        with self._begin() as conn:
            conn.execute(store_meta.delete().where(store_meta.c.name == name))
            if value is not None:
                conn.execute(store_meta.insert().values(name=name, value=value))

    def dispose(self) -> None:
        self.engine.dispose()

    def _begin(self):  # type: ignore[no-untyped-def]
        return _Guard(self.engine.begin)

    def _connect(self):  # type: ignore[no-untyped-def]
        return _Guard(self.engine.connect)


class _Guard:
    """A connection context whose database failures become one KeyStoreError sentence."""

    def __init__(self, opener):  # type: ignore[no-untyped-def]
        self._opener = opener
        self._cm = None

    def __enter__(self) -> sa.Connection:
        try:
            self._cm = self._opener()
            return self._cm.__enter__()  # type: ignore[no-any-return]
        except SQLAlchemyError as exc:
            raise KeyStoreError(f"The key store cannot be read: {type(exc).__name__}.") from None

    def __exit__(self, exc_type, exc, tb):  # type: ignore[no-untyped-def]
        try:
            suppressed = self._cm.__exit__(exc_type, exc, tb)  # type: ignore[union-attr]
        except SQLAlchemyError as error:
            raise KeyStoreError(
                f"The key store cannot be written: {type(error).__name__}."
            ) from None
        if isinstance(exc, SQLAlchemyError):
            raise KeyStoreError(f"The key store failed: {type(exc).__name__}.") from None
        return suppressed
