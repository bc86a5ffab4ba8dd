"""Signed checkpoints of the journal's tree: C2SP tlog-checkpoint in a C2SP signed note.

A checkpoint is the text

    <origin>\\n<tree size>\\n<base64 root hash>\\n

signed as a note: a blank line, then one line per signature,
"— <key name> <base64(key hash (4 bytes) || Ed25519 signature (64 bytes))>\\n", where the key
hash is the first 4 bytes of SHA-256(<key name> || 0x0A || 0x01 || <32-byte public key>) and
the signature covers the text above (with its final newline). The verifier key is printed as
"<key name>+<key hash, 8 hex digits>+<base64(0x01 || public key)>".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
import shlex
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from coffre.journal.entries import timestamp
from coffre.journal.errors import JournalError
from coffre.journal.service import size as journal_size
from coffre.journal.service import tree
from coffre.journal.tables import journal_checkpoints
from coffre.store import UnitOfWork, insert_new

ED25519 = b"\x01"
SIGNATURE_PREFIX = "\u2014 "  # an em dash and a space


class CheckpointInvalid(JournalError):
    """A checkpoint is malformed, or its signature does not verify."""


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    note: str  # the whole signed note

    @property
    def text(self) -> str:
        return checkpoint_text(self.origin, self.size, self.root)


def checkpoint_text(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def key_hash(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + public_key).digest()[:4]


class Signer:
    """Signs checkpoints with the journal's Ed25519 key under one key name (the origin)."""

    def __init__(self, seed: bytes, origin: str | None = None) -> None:
        self._private = Ed25519PrivateKey.from_private_bytes(seed)
        self.public_key = self._private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        # A stable default origin: the key's own fingerprint, so two installations differ.
        self.origin = origin or f"coffre.journal/{hashlib.sha256(self.public_key).hexdigest()[:16]}"
        _check_name(self.origin)
        self.verifier = Verifier(self.origin, self.public_key)

    @property
    def vkey(self) -> str:
        return self.verifier.vkey

    def sign_text(self, text: str) -> str:
        """The signed note of `text` (which must end with a newline)."""
        if not text.endswith("\n") or "\n\n" in text:
            raise JournalError("A note's text ends with one newline and has no blank line.")
        signature = self._private.sign(text.encode())
        blob = base64.b64encode(key_hash(self.origin, self.public_key) + signature).decode()
        return f"{text}\n{SIGNATURE_PREFIX}{self.origin} {blob}\n"

    def sign(self, size: int, root: bytes) -> Checkpoint:
        note = self.sign_text(checkpoint_text(self.origin, size, root))
        return Checkpoint(self.origin, size, root, note)


def _check_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise JournalError(
            f"The checkpoint origin {name!r} must be non-empty, without spaces or '+'."
        )


class Verifier:
    """Verifies notes signed by one Ed25519 key."""

    def __init__(self, name: str, public_key: bytes) -> None:
        _check_name(name)
        self.name = name
        self.public_key = public_key
        self.hash = key_hash(name, public_key)
        self._key = Ed25519PublicKey.from_public_bytes(public_key)

    @property
    def vkey(self) -> str:
        encoded = base64.b64encode(ED25519 + self.public_key).decode()
        return f"{self.name}+{self.hash.hex()}+{encoded}"

    @classmethod
    def from_vkey(cls, vkey: str) -> Verifier:
        """The verifier of a `name+hash+base64` key; raise CheckpointInvalid if malformed."""
        try:
            # The name has no '+', the hash is 8 hex digits; the base64 may hold '+'.
            name, hash_hex, encoded = vkey.strip().split("+", 2)
            raw = base64.b64decode(encoded, validate=True)
            if base64.b64encode(raw).decode() != encoded or len(hash_hex) != 8:
                raise ValueError("not canonical base64")
            if raw[:1] != ED25519 or len(raw) != 33:
                raise ValueError("not an Ed25519 key")
            verifier = cls(name, raw[1:])
            if verifier.hash.hex() != hash_hex.lower():
                raise ValueError("the key hash does not match")
        except (ValueError, binascii.Error, JournalError) as exc:
            raise CheckpointInvalid(f"The verifier key is malformed ({exc}).") from None
        return verifier

    def verify_note(self, note: str) -> str:
        """The text of a signed note; raise CheckpointInvalid unless it carries a valid
        signature by this key. Signatures by other keys (a witness') are skipped."""
        text, sep, signatures = note.partition("\n\n")
        if not sep or not text or not signatures.endswith("\n"):
            raise CheckpointInvalid("The checkpoint is not a signed note.")
        text += "\n"
        verified = False
        for line in signatures[:-1].split("\n"):
            if not line.startswith(SIGNATURE_PREFIX):
                raise CheckpointInvalid("The checkpoint has a malformed signature line.")
            name, _, blob = line[len(SIGNATURE_PREFIX) :].rpartition(" ")
            try:
                raw = base64.b64decode(blob, validate=True)
            except binascii.Error:
                raise CheckpointInvalid("A checkpoint signature is not base64.") from None
            if name != self.name or raw[:4] != self.hash:
                continue
            try:
                self._key.verify(raw[4:], text.encode())
            except InvalidSignature:
                raise CheckpointInvalid(
                    "The checkpoint has a forged or damaged signature."
                ) from None
            verified = True
        if not verified:
            raise CheckpointInvalid(f"The checkpoint is not signed by {self.name}.")
        return text

    def open(self, note: str) -> Checkpoint:
        """The checkpoint in a signed note; raise CheckpointInvalid unless it is a well-formed
        tlog checkpoint of this log with a valid signature."""
        text = self.verify_note(note)
        lines = text.split("\n")[:-1]
        if len(lines) < 3:
            raise CheckpointInvalid("The checkpoint has fewer than three lines.")
        origin, size_text, root_text = lines[:3]
        try:
            size = int(size_text)
            if size < 0 or str(size) != size_text:
                raise ValueError("size")
            root = base64.b64decode(root_text, validate=True)
            if len(root) != 32:
                raise ValueError("root")
        except (ValueError, binascii.Error):
            raise CheckpointInvalid("The checkpoint's size or root hash is malformed.") from None
        if origin != self.name:
            raise CheckpointInvalid(f"The checkpoint's origin {origin!r} is not {self.name!r}.")
        return Checkpoint(origin, size, root, note)


class Publisher:
    """Writes checkpoints outside the database: to a folder, and to a command if configured."""

    def __init__(self, folder: Path, command: str | None = None) -> None:
        self.folder = folder
        self.command = command

    def publish(self, checkpoint: Checkpoint) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.folder / f"checkpoint-{checkpoint.size:012d}"
        _write_atomically(path, checkpoint.note)
        _write_atomically(self.folder / "latest", checkpoint.note)
        if self.command:
            try:
                subprocess.run(  # noqa: S603 (the operator's own configured command)
                    shlex.split(self.command),
                    input=checkpoint.note.encode(),
                    check=True,
                    timeout=30,
                    capture_output=True,
                )
            except (OSError, subprocess.SubprocessError):
                raise JournalError(
                    "The checkpoint command failed; the checkpoint is kept in the database "
                    f"and in {self.folder}."
                ) from None
        return path

    def newest(self) -> str | None:
        """The newest checkpoint note in the folder (largest size), or None if there is none."""
        if not self.folder.is_dir():
            return None
        # Only finished files: a ".tmp" left by an interrupted publish is not a checkpoint.
        found = sorted(p for p in self.folder.glob("checkpoint-*") if p.name[11:].isdigit())
        return found[-1].read_text(encoding="utf-8") if found else None


def _write_atomically(path: Path, text: str) -> None:
    # A name of its own per writer: two commands may publish at the same moment.
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def latest(uow: UnitOfWork) -> tuple[int, str, str] | None:
    """(size, note, created_at) of the newest checkpoint in the database, or None."""
    row = uow.connection.execute(
        sa.select(
            journal_checkpoints.c.size, journal_checkpoints.c.note, journal_checkpoints.c.created_at
        )
        .order_by(journal_checkpoints.c.size.desc())
        .limit(1)
    ).first()
    return None if row is None else (int(row.size), row.note, row.created_at)


def stored(uow: UnitOfWork) -> list[tuple[int, bytes, str]]:
    """Every checkpoint in the database: (size, root, note), smallest first."""
    rows = uow.connection.execute(
        sa.select(
            journal_checkpoints.c.size, journal_checkpoints.c.root, journal_checkpoints.c.note
        ).order_by(journal_checkpoints.c.size)
    )
    return [(int(r.size), bytes(r.root), r.note) for r in rows]


def make_checkpoint(uow: UnitOfWork, signer: Signer, publisher: Publisher | None) -> Checkpoint:
    """Sign the current tree, store the checkpoint and publish it outside (without a
    publisher: the caller publishes it); return it.

    The tree is read and signed without the write lock: entries and complete subtrees never
    change, so the tree of a given size is the same whenever it is read, and the calls that
    write wait only while the checkpoint's row is stored (on a busy server, a checkpoint
    falls due every second or so)."""
    with uow.reading() as reader:
        current = journal_size(reader)
        found = latest(reader)
        root = None if found is not None and found[0] == current else tree(reader, current).root()
    if found is not None and root is None:
        checkpoint = signer.verifier.open(found[1])
    else:
        assert root is not None
        checkpoint = _stored(uow, signer, signer.sign(current, root))
    if publisher is not None:
        publisher.publish(checkpoint)
    return checkpoint


def _stored(uow: UnitOfWork, signer: Signer, checkpoint: Checkpoint) -> Checkpoint:
    """Store a new checkpoint; if another process stored one of the same size meanwhile
    (or is storing it: the insert waits for it), that one is kept and returned."""
    with uow:
        stored = insert_new(
            uow.connection,
            journal_checkpoints,
            {
                "size": checkpoint.size,
                "root": checkpoint.root,
                "note": checkpoint.note,
                "created_at": timestamp(datetime.now(UTC)),
            },
        )
        if not stored:
            note = uow.connection.execute(
                sa.select(journal_checkpoints.c.note).where(
                    journal_checkpoints.c.size == checkpoint.size
                )
            ).scalar_one()
            return signer.verifier.open(note)
        uow.commit()
    return checkpoint


def checkpoint_if_due(
    uow: UnitOfWork,
    signer: Signer,
    publisher: Publisher | None,
    *,
    every_entries: int,
    every_seconds: int,
    now: datetime,
) -> Checkpoint | None:
    """Make a checkpoint if the journal grew by `every_entries` since the last one, or grew at
    all and the last one is `every_seconds` old; return it, or None when none was due.
    Whether one is due is read without the write lock. Without a publisher the checkpoint
    is stored, and the caller publishes it."""
    with uow.reading() as reader:
        current = journal_size(reader)
        found = latest(reader)
    last_size = found[0] if found else 0
    if current == last_size:
        return None
    age = (
        now - datetime.strptime(found[2], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        if found
        else None
    )
    if age is None or current - last_size >= every_entries or age.total_seconds() >= every_seconds:
        return make_checkpoint(uow, signer, publisher)
    return None
