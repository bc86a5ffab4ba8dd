"""Field and stream sealing with AES-256-GCM under a per-patient data key.

Only `records` may import this module (import contract `sealed-fields`).

A sealed field is `0x01 || nonce(12) || ciphertext || tag(16)`. Its associated data binds
organisation, table, column, row id and key version, so a ciphertext copied to another row,
column, patient or organisation fails to open.

A sealed stream (documents) follows the STREAM construction (Hoang, Reyhanitabar, Rogaway,
Vizár, 2015): each chunk is sealed on its own with nonce `prefix(7) || counter(4) || last(1)`,
so chunks cannot be reordered, dropped, duplicated or the stream truncated without detection,
and a large file is never held whole in memory.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from coffre.crypto.errors import DecryptionFailed

FIELD_VERSION = b"\x01"
STREAM_VERSION = b"\x02"
_NONCE = 12
_MAX_CHUNKS = 2**32 - 1


def field_aad(organisation: str, table: str, column: str, row_id: str, key_version: int) -> bytes:
    """Associated data of one sealed field: length-prefixed, so no two contexts collide.
    Built on every field sealed or opened: with no generator, struct call or list."""
    out = bytearray(_AAD_TAG)
    for part in (
        organisation.encode(),
        table.encode(),
        column.encode(),
        row_id.encode(),
        str(key_version).encode(),
    ):
        if len(part) > 0xFFFF:
            raise ValueError("a part of the associated data is over 65,535 bytes")
        out += len(part).to_bytes(2, "big")
        out += part
    return bytes(out)


_AAD_TAG = len(b"coffre-field/1").to_bytes(2, "big") + b"coffre-field/1"


class Sealer:
    """Seals and opens fields and streams under one data key."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("a data key is 32 bytes")
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        """Return the sealed field; a fresh random nonce each time."""
        nonce = os.urandom(_NONCE)
        return FIELD_VERSION + nonce + self._aead.encrypt(nonce, plaintext, aad)

    def open(self, sealed: bytes, aad: bytes) -> bytes:
        """Return the plaintext; raise DecryptionFailed if anything about it is off."""
        if len(sealed) < 1 + _NONCE + 16 or sealed[:1] != FIELD_VERSION:
            raise DecryptionFailed("A sealed field is malformed.")
        try:
            return self._aead.decrypt(sealed[1 : 1 + _NONCE], sealed[1 + _NONCE :], aad)
        except InvalidTag:
            raise DecryptionFailed(
                "A sealed field does not open: it was altered, moved or sealed under another key."
            ) from None

    def seal_stream(self, chunks: Iterable[bytes], aad: bytes) -> Iterator[bytes]:
        """Yield one sealed chunk per input chunk; the first carries the random nonce prefix."""
        prefix = os.urandom(7)
        iterator = iter(chunks)
        current = next(iterator, b"")
        index = 0
        while True:
            following = next(iterator, None)
            last = following is None
            if index >= _MAX_CHUNKS:
                raise ValueError("too many chunks in one stream")
            nonce = prefix + struct.pack(">IB", index, 1 if last else 0)
            body = self._aead.encrypt(nonce, current, aad)
            yield (STREAM_VERSION + prefix + body) if index == 0 else body
            if last:
                return
            current, index = following, index + 1

    def open_stream(self, sealed_chunks: Iterable[bytes], aad: bytes) -> Iterator[bytes]:
        """Yield the plaintext chunks in order; raise DecryptionFailed on any tampering,
        reordering, dropped chunk or truncation."""
        prefix = b""
        index = 0
        finished = False
        for sealed in sealed_chunks:
            if finished:
                raise DecryptionFailed("A sealed document has chunks after its last one.")
            if index == 0:
                if len(sealed) < 8 + 16 or sealed[:1] != STREAM_VERSION:
                    raise DecryptionFailed("A sealed document is malformed.")
                prefix, sealed = sealed[1:8], sealed[8:]
            plaintext = None
            for last in (0, 1):
                nonce = prefix + struct.pack(">IB", index, last)
                try:
                    plaintext = self._aead.decrypt(nonce, sealed, aad)
                except InvalidTag:
                    continue
                finished = bool(last)
                break
            if plaintext is None:
                raise DecryptionFailed(
                    "A sealed document does not open: a chunk was altered, moved or reordered."
                )
            yield plaintext
            index += 1
        if not finished:
            raise DecryptionFailed("A sealed document is truncated: its last chunk is missing.")
