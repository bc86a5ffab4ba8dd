"""KeyStore: a SQLite file of wrapped keys that fails in one sentence and forgets for real."""

from __future__ import annotations

import sqlite3
import stat
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from coffre.crypto.errors import KeyStoreError
from coffre.crypto.keystore import SCHEMA_VERSION, KeyStore, _Guard, _sqlite_pragmas

MARKER = b"\xa5WRAPPED-KEY-MARKER\x5a" * 4


def row(subject: str, version: int = 1, kek: str = "kek-a", wrapped: bytes = b"w") -> tuple:
    return (subject, version, kek, wrapped)


def sql(path: Path, statement: str, *params: Any) -> list[tuple]:
    with closing(sqlite3.connect(path)) as conn:
        rows = conn.execute(statement, params).fetchall()
        conn.commit()
    return rows


# opening and creating ---------------------------------------------------------


def test_a_new_key_store_file_is_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "keystore.db"
    store = KeyStore(f"sqlite:///{path}")
    store.create()
    store.dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_creating_a_key_store_twice_changes_nothing(store: KeyStore, store_url: str) -> None:
    store.put_data_keys([row("a")])
    store.create()
    store.check()
    assert store.count_data_keys() == 1
    assert store.get_meta("schema") == SCHEMA_VERSION
    path = Path(store_url.removeprefix("sqlite:///"))
    assert sql(path, "SELECT count(*) FROM keystore_meta WHERE name = 'schema'") == [(1,)]


def test_a_created_key_store_passes_its_check_from_another_instance(
    store: KeyStore, store_url: str
) -> None:
    other = KeyStore(store_url)
    try:
        other.check()
    finally:
        other.dispose()


def test_an_empty_key_store_file_is_not_initialised(tmp_path: Path) -> None:
    path = tmp_path / "keystore.db"
    path.touch(mode=0o600)
    store = KeyStore(f"sqlite:///{path}")
    with pytest.raises(KeyStoreError, match="missing or not initialised; run 'coffre init'"):
        store.check()
    store.dispose()


def test_a_key_store_that_was_never_created_is_not_initialised(tmp_path: Path) -> None:
    store = KeyStore(f"sqlite:///{tmp_path / 'nowhere' / 'keystore.db'}")
    with pytest.raises(KeyStoreError, match="not initialised"):
        store.check()
    store.dispose()


def test_a_file_that_is_not_a_database_is_not_a_key_store(tmp_path: Path) -> None:
    path = tmp_path / "keystore.db"
    path.write_bytes(b"this is not SQLite" * 100)
    path.chmod(0o600)
    store = KeyStore(f"sqlite:///{path}")
    with pytest.raises(KeyStoreError, match="not initialised"):
        store.check()
    with pytest.raises(KeyStoreError, match="Cannot create the key store: DatabaseError"):
        store.create()
    store.dispose()


def test_a_key_store_of_an_unknown_schema_version_is_refused(store: KeyStore) -> None:
    store.set_meta("schema", "2")
    with pytest.raises(KeyStoreError, match="not initialised"):
        store.check()


def test_a_directory_is_not_a_key_store(tmp_path: Path) -> None:
    store = KeyStore(f"sqlite:///{tmp_path}")
    with pytest.raises(KeyStoreError, match="Cannot create the key store: OperationalError"):
        store.create()
    with pytest.raises(KeyStoreError, match="cannot be read: OperationalError"):
        store.get_meta("schema")
    with pytest.raises(KeyStoreError, match="not initialised"):
        store.check()
    store.dispose()


@pytest.mark.parametrize("url", ["nonsense://keys", "sqlite+nosuchdriver:///k.db", "not a url"])
def test_an_unusable_key_store_url_gives_one_sentence(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(KeyStoreError, match=r"^Cannot open the key store: \w+\.$"):
        KeyStore(url)
    assert list(tmp_path.iterdir()) == []  # nothing left behind


def test_a_key_store_path_under_a_regular_file_gives_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "keys").write_text("a file")
    with pytest.raises(KeyStoreError, match="Cannot open the key store"):
        KeyStore(f"sqlite:///{tmp_path / 'keys' / 'keystore.db'}")


def test_a_server_key_store_is_opened_lazily_and_without_sqlite_pragmas() -> None:
    store = KeyStore("postgresql+psycopg://coffre@127.0.0.1:1/keys")  # never connected
    assert store.engine.dialect.name == "postgresql"
    assert not sa.event.contains(store.engine, "connect", _sqlite_pragmas)
    store.dispose()


def test_every_sqlite_connection_overwrites_deleted_rows(store: KeyStore) -> None:
    assert sa.event.contains(store.engine, "connect", _sqlite_pragmas)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "delete"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2


def test_a_destroyed_key_leaves_no_trace_in_the_file(store: KeyStore, store_url: str) -> None:
    path = Path(store_url.removeprefix("sqlite:///"))
    store.put_data_keys([row("doomed", wrapped=MARKER), row("kept", wrapped=b"other")])
    store.dispose()
    assert MARKER in path.read_bytes()
    assert store.destroy(["doomed"]) == 1
    store.dispose()
    assert MARKER not in path.read_bytes()
    assert store.get_data_key("kept", 1) == ("kek-a", b"other")


# data keys --------------------------------------------------------------------


def test_a_stored_data_key_is_read_back(store: KeyStore) -> None:
    store.put_data_keys([row("a", 1, "kek-a", b"wa"), row("a", 2, "kek-b", b"wa2"), row("b")])
    assert store.get_data_key("a", 1) == ("kek-a", b"wa")
    assert store.get_data_key("a", 2) == ("kek-b", b"wa2")
    assert store.get_data_key("a", 3) is None
    assert store.get_data_key("c", 1) is None
    assert store.count_data_keys() == 3


def test_storing_a_data_key_twice_fails_and_stores_nothing_of_the_batch(store: KeyStore) -> None:
    store.put_data_keys([row("a")])
    with pytest.raises(KeyStoreError, match=r"^The key store failed: IntegrityError\.$"):
        store.put_data_keys([row("b"), row("c"), row("a")])
    assert store.subjects_with_keys(["a", "b", "c"]) == ["a"]


def test_destroying_keys_deletes_every_version_and_leaves_a_tombstone(store: KeyStore) -> None:
    store.put_data_keys([row("a", 1), row("a", 2), row("b", 1)])
    assert not store.is_destroyed("a")
    assert store.destroy(["a"]) == 2
    assert store.get_data_key("a", 1) is None
    assert store.get_data_key("a", 2) is None
    assert store.is_destroyed("a")
    assert not store.is_destroyed("b")
    assert store.get_data_key("b", 1) == ("kek-a", b"w")


def test_destroying_again_or_twice_in_one_call_is_harmless(store: KeyStore) -> None:
    store.put_data_keys([row("a"), row("b")])
    assert store.destroy(["a", "a", "b"]) == 2
    assert store.destroy(["a", "b"]) == 0
    assert store.destroy([]) == 0
    assert store.is_destroyed("a")
    assert store.is_destroyed("b")


def test_destroying_a_subject_without_keys_still_leaves_a_tombstone(store: KeyStore) -> None:
    assert store.destroy(["never-had-keys"]) == 0
    assert store.is_destroyed("never-had-keys")


def test_subjects_with_keys_answers_for_more_ids_than_one_query_holds(store: KeyStore) -> None:
    with_keys = [f"s{n:05d}" for n in range(0, 1300, 2)]
    store.put_data_keys([row(s) for s in with_keys] + [row("s00000", 2), row("s01298", 2)])
    asked = [f"s{n:05d}" for n in range(1300)] + ["unknown"]
    found = store.subjects_with_keys(asked)
    assert sorted(found) == with_keys
    assert len(found) == len(set(found))
    assert store.subjects_with_keys([]) == []


def test_keys_not_under_a_kek_come_in_batches_in_a_stable_order(store: KeyStore) -> None:
    store.put_data_keys(
        [
            row("c", kek="kek-old"),
            row("a", 2, "kek-old"),
            row("a", 1, "kek-old"),
            row("b", kek="kek-new"),
        ]
    )
    assert store.count_data_keys() == 4
    assert store.count_data_keys(not_under="kek-new") == 3
    first = store.data_keys_not_under("kek-new", 2)
    assert [(s, v) for s, v, _, _ in first] == [("a", 1), ("a", 2)]
    store.replace_wrapped([(s, v, "kek-new", b"re" + w) for s, v, _, w in first])
    assert store.get_data_key("a", 2) == ("kek-new", b"rew")
    assert [(s, v) for s, v, _, _ in store.data_keys_not_under("kek-new", 2)] == [("c", 1)]
    assert store.count_data_keys(not_under="kek-new") == 1


# system keys and meta -----------------------------------------------------------


def test_system_keys_are_stored_replaced_and_listed(store: KeyStore) -> None:
    assert store.get_system_key("blind-index") is None
    assert list(store.system_keys()) == []
    store.put_system_key("blind-index", "kek-a", b"w1")
    store.put_system_key("journal-signing", "kek-a", b"w2")
    with pytest.raises(KeyStoreError, match="IntegrityError"):
        store.put_system_key("blind-index", "kek-a", b"again")
    store.put_system_key("blind-index", "kek-b", b"w1b", replace=True)
    assert store.get_system_key("blind-index") == ("kek-b", b"w1b")
    assert sorted(store.system_keys()) == [
        ("blind-index", "kek-b", b"w1b"),
        ("journal-signing", "kek-a", b"w2"),
    ]


def test_meta_values_are_set_replaced_and_cleared(store: KeyStore) -> None:
    assert store.get_meta("rotation-target") is None
    store.set_meta("rotation-target", "kek-1")
    store.set_meta("rotation-target", "kek-2")
    assert store.get_meta("rotation-target") == "kek-2"
    store.set_meta("rotation-target", None)
    assert store.get_meta("rotation-target") is None
    store.set_meta("rotation-target", None)
    assert store.get_meta("schema") == SCHEMA_VERSION


# failures become one sentence -------------------------------------------------------


class _Transaction:
    def __init__(self, fail_on_exit: bool) -> None:
        self.fail_on_exit = fail_on_exit

    def __enter__(self) -> str:
        return "connection"

    def __exit__(self, *_exc: object) -> bool:
        if self.fail_on_exit:
            raise sa.exc.OperationalError("COMMIT", {}, Exception("disk I/O error"))
        return False


def use_guard(*, fail_on_exit: bool, error: Exception | None = None) -> str:
    with _Guard(lambda: _Transaction(fail_on_exit)) as conn:
        if error is not None:
            raise error
        return conn


def test_a_commit_that_fails_becomes_a_key_store_error() -> None:
    with pytest.raises(KeyStoreError, match=r"^The key store cannot be written: OperationalError"):
        use_guard(fail_on_exit=True)


def test_a_guarded_connection_is_the_opened_one() -> None:
    assert use_guard(fail_on_exit=False) == "connection"


def test_an_error_that_is_not_the_database_s_passes_through_unchanged() -> None:
    with pytest.raises(LookupError, match="not a database error"):
        use_guard(fail_on_exit=False, error=LookupError("not a database error"))


def insert_twice(store: KeyStore) -> None:
    with store._begin() as conn:
        conn.execute(sa.text("INSERT INTO keystore_meta (name, value) VALUES ('x', 'y')"))
        conn.execute(sa.text("INSERT INTO keystore_meta (name, value) VALUES ('x', 'z')"))


def test_a_failed_write_rolls_back_the_whole_transaction(store: KeyStore) -> None:
    with pytest.raises(KeyStoreError, match="IntegrityError"):
        insert_twice(store)
    assert store.get_meta("x") is None


def test_an_in_memory_key_store_leaves_no_file_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = KeyStore("sqlite:///:memory:")
    store.create()
    store.check()
    store.dispose()
    assert list(tmp_path.iterdir()) == []
