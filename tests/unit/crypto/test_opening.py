"""crypto.open_provider / create_provider / open_keyring driven by settings."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

import coffre.crypto as crypto
from coffre.config import Environment, Settings, load_settings
from coffre.crypto import (
    FileKeyProvider,
    KeyFileError,
    KeyProviderError,
    KeyStore,
    KeyStoreError,
    create_provider,
    open_keyring,
    open_provider,
)


def settings_for(home: Path, **env: str) -> Settings:
    return load_settings(home=home, env=env)


def test_create_provider_writes_the_configured_key_file(tmp_path: Path) -> None:
    cfg = settings_for(tmp_path)
    created = create_provider(cfg)
    assert isinstance(created, FileKeyProvider)
    assert cfg.key_file == tmp_path / "keys" / "kek.json"
    assert stat.S_IMODE(cfg.key_file.stat().st_mode) == 0o600
    assert not created.demo
    opened = open_provider(cfg)
    assert opened.active_kek_id == created.active_kek_id
    with pytest.raises(KeyFileError, match="already exists"):
        create_provider(cfg)


def test_the_key_file_can_live_elsewhere(tmp_path: Path) -> None:
    elsewhere = tmp_path / "vault" / "coffre.kek"
    cfg = settings_for(tmp_path / "home", COFFRE_KEY_FILE=str(elsewhere))
    create_provider(cfg)
    assert elsewhere.is_file()
    assert not (tmp_path / "home" / "keys" / "kek.json").exists()
    assert open_provider(cfg).kek_ids() == FileKeyProvider(elsewhere).kek_ids()


def test_open_provider_without_a_key_file_says_to_run_init(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="run 'coffre init' first"):
        open_provider(settings_for(tmp_path))


def test_a_demo_installation_makes_a_demo_key_that_only_demo_mode_opens(tmp_path: Path) -> None:
    demo = settings_for(tmp_path, COFFRE_ENVIRONMENT="demo")
    assert demo.environment is Environment.DEMO
    created = create_provider(demo)
    assert isinstance(created, FileKeyProvider)
    assert created.demo
    assert open_provider(demo).active_kek_id == created.active_kek_id
    for environment in ("development", "production"):
        with pytest.raises(KeyFileError, match="refused outside demo mode"):
            open_provider(settings_for(tmp_path, COFFRE_ENVIRONMENT=environment))


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"COFFRE_PKCS11_MODULE": "/usr/lib/softhsm/libsofthsm2.so"},
        {"COFFRE_PKCS11_MODULE": "/usr/lib/softhsm/libsofthsm2.so", "COFFRE_PKCS11_TOKEN": "t"},
        {"COFFRE_PKCS11_TOKEN": "t", "COFFRE_PKCS11_PIN": "1234"},
        {"COFFRE_PKCS11_MODULE": "/usr/lib/softhsm/libsofthsm2.so", "COFFRE_PKCS11_PIN": "1234"},
    ],
    ids=["nothing", "module-only", "no-pin", "no-module", "no-token"],
)
def test_the_pkcs11_provider_without_its_settings_says_which_are_needed(
    tmp_path: Path, env: dict[str, str]
) -> None:
    cfg = settings_for(tmp_path, COFFRE_KEY_PROVIDER="pkcs11", **env)
    for action in (open_provider, create_provider):
        with pytest.raises(KeyProviderError, match="COFFRE_PKCS11_MODULE, COFFRE_PKCS11_TOKEN"):
            action(cfg)
    assert not cfg.key_file.exists()


def test_the_pkcs11_provider_with_a_missing_library_says_so(tmp_path: Path) -> None:
    pin_file = tmp_path / "pin"
    pin_file.write_text("1234\n")
    cfg = settings_for(
        tmp_path,
        COFFRE_KEY_PROVIDER="PKCS11",
        COFFRE_PKCS11_MODULE=str(tmp_path / "no-such-lib.so"),
        COFFRE_PKCS11_TOKEN="coffre",
        COFFRE_PKCS11_PIN_FILE=str(pin_file),
    )
    assert cfg.pkcs11_pin == "1234"
    for action in (open_provider, create_provider):
        with pytest.raises(KeyProviderError, match=r"no-such-lib\.so does not exist"):
            action(cfg)


def test_open_keyring_on_an_uninitialised_key_store_says_to_run_init(tmp_path: Path) -> None:
    cfg = settings_for(tmp_path)
    provider = create_provider(cfg)
    with pytest.raises(KeyStoreError, match="not initialised; run 'coffre init'"):
        open_keyring(cfg, provider)
    with pytest.raises(KeyStoreError, match="not initialised"):
        open_keyring(cfg)


def test_open_keyring_opens_the_configured_provider_and_key_store(tmp_path: Path) -> None:
    cfg = settings_for(tmp_path, COFFRE_DEK_CACHE_SIZE="7")
    created = create_provider(cfg)
    store = KeyStore(cfg.keystore_url)
    store.create()
    store.dispose()
    keyring = open_keyring(cfg)
    try:
        assert keyring.provider.active_kek_id == created.active_kek_id
        assert keyring.store.url == cfg.keystore_url
        (key,) = keyring.new_data_keys(["patient-1"])
    finally:
        keyring.store.dispose()
    given = open_keyring(cfg, created)
    try:
        assert given.provider is created
        assert given.data_key("patient-1") == key
    finally:
        given.store.dispose()


def test_the_keystore_lives_apart_from_the_main_database(tmp_path: Path) -> None:
    cfg = settings_for(tmp_path)
    assert cfg.keystore_url != cfg.database_url
    assert cfg.keystore_url == f"sqlite:///{tmp_path / 'keys' / 'keystore.db'}"


def test_field_sealing_is_not_exported_by_the_crypto_package() -> None:
    assert "Sealer" not in crypto.__all__
    assert not hasattr(crypto, "Sealer")
    assert not hasattr(crypto, "field_aad")
    assert all(hasattr(crypto, name) for name in crypto.__all__)
