"""Key providers: where the key-encryption keys (KEKs) live, behind one interface.

A provider wraps and unwraps small secrets (data keys, system keys) under a KEK that never
leaves it and never enters the database. Every wrap is bound to a context (what the key is
for and whose it is), so a wrapped key moved to another subject fails to unwrap.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import secrets
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from coffre.crypto.errors import KeyFileError, KeyProviderError

KEY_FILE_FORMAT = "coffre-keyfile/1"
_WRAP_VERSION = b"\x01"


class KeyProvider(Protocol):
    """What Coffre needs from a place that keeps key-encryption keys."""

    @property
    def active_kek_id(self) -> str:
        """The id of the KEK that new wraps use."""
        ...

    def kek_ids(self) -> list[str]:
        """Every KEK this provider can unwrap with."""
        ...

    def wrap(self, key: bytes, context: bytes) -> tuple[str, bytes]:
        """Wrap `key` under the active KEK; return (kek id, wrapped bytes)."""
        ...

    def unwrap(self, kek_id: str, wrapped: bytes, context: bytes) -> bytes:
        """Return the key; raise KeyProviderError if it does not open under that KEK and context."""
        ...

    def new_kek(self) -> str:
        """Create a KEK, make it active (older ones stay usable for unwrap) and return its id."""
        ...

    def close(self) -> None:
        """Release any session held with the provider."""
        ...


def new_kek_id() -> str:
    return f"kek-{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"


def _wrap_aad(kek_id: str, context: bytes) -> bytes:
    return b"coffre-wrap/1\x00" + kek_id.encode() + b"\x00" + context


def _stamp(path: Path) -> tuple[int, int, int]:
    """What changes when the file is replaced or rewritten."""
    try:
        info = path.stat()
    except OSError:
        return (0, 0, 0)
    return (info.st_ino, info.st_mtime_ns, info.st_size)


def check_private_file(path: Path) -> None:
    """Raise KeyFileError unless `path` is a regular file that only its owner may read."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise KeyFileError(
            f"The key file {path} does not exist; run 'coffre init' first."
        ) from None
    except OSError as exc:
        raise KeyFileError(f"The key file {path} cannot be read ({exc.strerror}).") from None
    if not stat.S_ISREG(info.st_mode):
        raise KeyFileError(f"The key file {path} is not a regular file.")
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"The key file {path} is readable by other users (mode "
            f"{stat.S_IMODE(info.st_mode):04o}); make it 0600 with 'chmod 600 {path}'."
        )


class FileKeyProvider:
    """KEKs in a JSON key file (mode 0600, outside the database), AES-256-GCM wrapping."""

    def __init__(self, path: Path, *, allow_demo: bool = False) -> None:
        self.path = path
        self._allow_demo = allow_demo
        self._load()

    def _load(self) -> None:
        path = self.path
        check_private_file(path)
        self._stamp = _stamp(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != KEY_FILE_FORMAT:
                raise ValueError("format")
            self._keys = {
                kid: base64.b64decode(raw, validate=True) for kid, raw in data["keys"].items()
            }
            self._active = str(data["active"])
            self.demo = bool(data.get("demo", False))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise KeyFileError(f"The key file {path} is not a Coffre key file.") from None
        if self._active not in self._keys or any(len(k) != 32 for k in self._keys.values()):
            raise KeyFileError(
                f"The key file {path} is damaged: a key is missing or has the wrong size."
            )
        if self.demo and not self._allow_demo:
            raise KeyFileError(
                f"The key file {path} is a demo key and is refused outside demo mode."
            )

    @classmethod
    def create(cls, path: Path, *, demo: bool = False) -> FileKeyProvider:
        """Write a new key file with one random KEK; refuse to overwrite an existing one."""
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        kid = new_kek_id()
        cls._write(path, {kid: secrets.token_bytes(32)}, kid, demo, create=True)
        return cls(path, allow_demo=demo)

    @staticmethod
    def _write(
        path: Path, keys: dict[str, bytes], active: str, demo: bool, *, create: bool
    ) -> None:
        body = {
            "format": KEY_FILE_FORMAT,
            "comment": (
                "DEMO KEY - for demonstration data only, refused outside demo mode"
                if demo
                else "Key-encryption keys of Coffre. Keep secret, back up apart from the database."
            ),
            "demo": demo,
            "active": active,
            "keys": {kid: base64.b64encode(k).decode() for kid, k in keys.items()},
        }
        payload = (json.dumps(body, indent=2) + "\n").encode()
        if create:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                raise KeyFileError(
                    f"The key file {path} already exists; nothing was changed."
                ) from None
            with os.fdopen(fd, "wb") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            return
        # Replace atomically so an interruption never leaves a half-written key file. A
        # leftover temporary file from an earlier crash is removed first: O_EXCL guarantees
        # the new one is created here, with mode 0600.
        tmp = path.with_name(path.name + ".tmp")
        try:
            tmp.unlink(missing_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise KeyFileError(f"Cannot write {tmp} ({exc.strerror}).") from None
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    @property
    def active_kek_id(self) -> str:
        return self._active

    def kek_ids(self) -> list[str]:
        return list(self._keys)

    def _refresh(self) -> None:
        """Reload the key file if another process (a rotation) has rewritten it."""
        if _stamp(self.path) != self._stamp:
            self._load()

    def wrap(self, key: bytes, context: bytes) -> tuple[str, bytes]:
        self._refresh()
        nonce = os.urandom(12)
        sealed = AESGCM(self._keys[self._active]).encrypt(
            nonce, key, _wrap_aad(self._active, context)
        )
        return self._active, _WRAP_VERSION + nonce + sealed

    def unwrap(self, kek_id: str, wrapped: bytes, context: bytes) -> bytes:
        kek = self._keys.get(kek_id)
        if kek is None:
            self._refresh()
            kek = self._keys.get(kek_id)
        if kek is None:
            raise KeyProviderError(f"The key-encryption key {kek_id} is not in the key file.")
        if len(wrapped) < 29 or wrapped[:1] != _WRAP_VERSION:
            raise KeyProviderError("A wrapped key is malformed.")
        try:
            return AESGCM(kek).decrypt(wrapped[1:13], wrapped[13:], _wrap_aad(kek_id, context))
        except InvalidTag:
            raise KeyProviderError(
                "A wrapped key does not open under its key-encryption key."
            ) from None

    def new_kek(self) -> str:
        # Under an exclusive lock on the key file's folder, re-read the file so a KEK
        # another process added since this one loaded it is kept, not overwritten.
        fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            on_disk = FileKeyProvider(self.path, allow_demo=True)._keys
            kid = new_kek_id()
            keys = {**self._keys, **on_disk, kid: secrets.token_bytes(32)}
            self._write(self.path, keys, kid, self.demo, create=False)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        self._keys, self._active = keys, kid
        return kid

    def close(self) -> None:
        return None
