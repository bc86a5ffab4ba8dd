"""The key store on either backend: its own SQLite file or its own PostgreSQL database."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from coffre.crypto import FileKeyProvider, KeyDestroyed, Keyring, KeyStore
from sidebyside import in_thread, waiting_for_a_lock


@pytest.fixture
def keyring(database_url, tmp_path):  # type: ignore[no-untyped-def]
    store = KeyStore(database_url)
    store.create()
    store.check()
    ring = Keyring(FileKeyProvider.create(tmp_path / "kek.json"), store)
    yield ring
    store.dispose()


def test_keys_live_rotate_and_die_in_the_key_store(keyring, tmp_path, database_url):
    keyring.ensure_system_keys()
    made = {k.subject_id: k.material for k in keyring.new_data_keys([f"p{i}" for i in range(700)])}
    report = keyring.rotate(batch_size=200)
    assert report.rewrapped == 700
    fresh = Keyring(FileKeyProvider(tmp_path / "kek.json"), KeyStore(database_url))
    try:
        assert fresh.data_key("p5").material == made["p5"]
        assert set(fresh.store.subjects_with_keys(list(made))) == set(made)
        assert fresh.destroy(["p5", "p6"]) == 2
        with pytest.raises(KeyDestroyed):
            fresh.data_key("p5")
        assert fresh.store.count_data_keys() == 698
    finally:
        fresh.store.dispose()


def test_a_key_destroyed_twice_at_once_leaves_one_tombstone(postgres_url, tmp_path):
    """An erasure and the reconciliation at start destroying one key at the same moment
    (PostgreSQL, side by side): the second waits for the first's tombstone and keeps it."""
    store = KeyStore(postgres_url)
    store.create()
    ring = Keyring(FileKeyProvider.create(tmp_path / "kek.json"), store)
    ring.new_data_keys(["p1"])
    done: list[int] = []
    try:
        with store.engine.begin() as other:  # the other destruction, in flight
            other.execute(
                sa.text(
                    "INSERT INTO destroyed_keys (subject_id, destroyed_at) VALUES ('p1', now())"
                )
            )
            thread = in_thread(lambda: done.append(ring.destroy(["p1"])))
            assert waiting_for_a_lock(store.engine)
        thread.join(10)
        assert done == [1]
        with pytest.raises(KeyDestroyed):
            ring.data_key("p1")
    finally:
        store.dispose()
