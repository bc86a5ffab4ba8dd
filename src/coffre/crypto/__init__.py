"""Keys and ciphers: key providers, the key store, the key ring and blind indexes.

Field sealing lives in `coffre.crypto.sealed`, which only `records` may import; it is not
re-exported here on purpose.
"""

from __future__ import annotations

from coffre.config import Environment, Settings
from coffre.crypto.blind import (
    BlindIndex,
    IndexKind,
    normalise_address,
    normalise_name,
    normalise_phone,
    split_address,
    street_line,
)
from coffre.crypto.errors import (
    CryptoError,
    DecryptionFailed,
    KeyDestroyed,
    KeyFileError,
    KeyNotFound,
    KeyProviderError,
    KeyStoreError,
)
from coffre.crypto.keyring import (
    BLIND_INDEX_KEY,
    JOURNAL_SIGNING_KEY,
    SYSTEM_SECRETS_KEY,
    TOKEN_SIGNING_KEY,
    DataKey,
    Keyring,
    RotationReport,
)
from coffre.crypto.keystore import KeyStore
from coffre.crypto.providers import FileKeyProvider, KeyProvider, check_private_file
from coffre.crypto.secretbox import SecretBox

__all__ = [
    "BLIND_INDEX_KEY",
    "JOURNAL_SIGNING_KEY",
    "SYSTEM_SECRETS_KEY",
    "TOKEN_SIGNING_KEY",
    "BlindIndex",
    "CryptoError",
    "DataKey",
    "DecryptionFailed",
    "FileKeyProvider",
    "IndexKind",
    "KeyDestroyed",
    "KeyFileError",
    "KeyNotFound",
    "KeyProvider",
    "KeyProviderError",
    "KeyStore",
    "KeyStoreError",
    "Keyring",
    "RotationReport",
    "SecretBox",
    "check_private_file",
    "create_provider",
    "normalise_address",
    "normalise_name",
    "normalise_phone",
    "open_keyring",
    "open_provider",
    "split_address",
    "street_line",
]


def _pkcs11_args(settings: Settings) -> tuple[str, str, str]:
    if not (settings.pkcs11_module and settings.pkcs11_token_label and settings.pkcs11_pin):
        raise KeyProviderError(
            "The PKCS#11 key provider needs COFFRE_PKCS11_MODULE, COFFRE_PKCS11_TOKEN "
            "and COFFRE_PKCS11_PIN (or COFFRE_PKCS11_PIN_FILE)."
        )
    return settings.pkcs11_module, settings.pkcs11_token_label, settings.pkcs11_pin


def open_provider(settings: Settings) -> KeyProvider:
    """The configured key provider, opened; raise KeyFileError or KeyProviderError if unusable."""
    if settings.key_provider == "pkcs11":
        from coffre.crypto.pkcs11 import Pkcs11KeyProvider

        return Pkcs11KeyProvider(*_pkcs11_args(settings))
    return FileKeyProvider(settings.key_file, allow_demo=settings.environment is Environment.DEMO)


def create_provider(settings: Settings) -> KeyProvider:
    """Create the first KEK of the configured provider (key file or HSM token)."""
    if settings.key_provider == "pkcs11":
        from coffre.crypto.pkcs11 import Pkcs11KeyProvider

        return Pkcs11KeyProvider.create(*_pkcs11_args(settings))
    return FileKeyProvider.create(settings.key_file, demo=settings.environment is Environment.DEMO)


def open_keyring(settings: Settings, provider: KeyProvider | None = None) -> Keyring:
    """The key ring over the configured provider and key store."""
    store = KeyStore(settings.keystore_url)
    store.check()
    return Keyring(provider or open_provider(settings), store, cache_size=settings.dek_cache_size)
