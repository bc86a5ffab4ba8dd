"""Errors of the crypto layer.

CryptoError
 ├── KeyFileError          the key file is missing, unreadable, malformed or too open
 ├── KeyProviderError      the key provider (file or HSM) cannot wrap or unwrap
 ├── KeyNotFound           no data key exists for that subject
 ├── KeyDestroyed          the data key was destroyed (the subject was erased)
 ├── DecryptionFailed      a ciphertext is corrupt, moved, or sealed under another key
 └── KeyStoreError         the key store cannot be opened or written
"""

from coffre.errors import CoffreError


class CryptoError(CoffreError):
    """A cryptographic operation could not be carried out."""


class KeyFileError(CryptoError):
    """The key file cannot be used."""


class KeyProviderError(CryptoError):
    """The key provider refused or failed an operation."""


class KeyNotFound(CryptoError):
    """No data key exists for the subject."""


class KeyDestroyed(CryptoError):
    """The subject's data key was destroyed."""


class DecryptionFailed(CryptoError):
    """The ciphertext does not open under this key and context."""


class KeyStoreError(CryptoError):
    """The key store cannot be used."""
