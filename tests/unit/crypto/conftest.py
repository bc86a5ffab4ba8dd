"""Fixtures of the crypto unit tests: a key file, a SQLite key store and a key ring in tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from coffre.crypto.keyring import Keyring
from coffre.crypto.keystore import KeyStore
from coffre.crypto.providers import FileKeyProvider


@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "kek.json"


@pytest.fixture
def provider(key_path: Path) -> FileKeyProvider:
    return FileKeyProvider.create(key_path)


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'keys' / 'keystore.db'}"


@pytest.fixture
def store(store_url: str) -> Iterator[KeyStore]:
    keystore = KeyStore(store_url)
    keystore.create()
    yield keystore
    keystore.dispose()


@pytest.fixture
def keyring(provider: FileKeyProvider, store: KeyStore) -> Keyring:
    return Keyring(provider, store)
