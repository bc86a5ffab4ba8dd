"""Sealing of system secrets that are not patient data (e.g. TOTP seeds of accounts).

Under the system-secrets key, AES-256-GCM, with a context (what and whose) as associated
data so a sealed secret moved to another account fails to open.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from coffre.crypto.errors import DecryptionFailed

_VERSION = b"\x01"


class SecretBox:
    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, secret: bytes, context: str) -> bytes:
        nonce = os.urandom(12)
        return (
            _VERSION + nonce + self._aead.encrypt(nonce, secret, b"secret\x00" + context.encode())
        )

    def open(self, sealed: bytes, context: str) -> bytes:
        """The secret; raise DecryptionFailed if it was altered or belongs elsewhere."""
        if len(sealed) < 29 or sealed[:1] != _VERSION:
            raise DecryptionFailed("A sealed secret is malformed.")
        try:
            return self._aead.decrypt(sealed[1:13], sealed[13:], b"secret\x00" + context.encode())
        except InvalidTag:
            raise DecryptionFailed("A sealed secret does not open here.") from None
