"""The key store on either backend: its own SQLite file or its own PostgreSQL database."""

from __future__ import annotations

import pytest

from coffre.crypto import FileKeyProvider, KeyDestroyed, Keyring, KeyStore


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
