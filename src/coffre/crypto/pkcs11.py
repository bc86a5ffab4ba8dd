"""PKCS#11 key provider: the KEKs live in an HSM (or SoftHSM2) and never leave it.

Mechanism: CKM_AES_GCM with AAD, computed inside the token. SoftHSM2 2.6 and python-pkcs11
0.10 both support it, and the output is standard GCM (checked against `cryptography` with an
imported test key), so no key-wrap + HMAC fallback is needed. The wrapped format is the one of
FileKeyProvider: b"\\x01" + 12-byte IV (os.urandom) + ciphertext||16-byte tag, with
AAD = _wrap_aad(kek_id, context).

Objects on the token:
- each KEK is an AES-256 secret key: token, private, sensitive, not extractable, not
  modifiable, encrypt/decrypt only; label "coffre-" + kek id, CKA_ID = kek id.
- the active KEK is named by a private CKO_DATA object labelled "coffre-active-kek" holding
  b"<generation> <kek id>". SoftHSM2 refuses to modify a data object's value, so a rotation
  writes the new record first and deletes the old one after; if a crash leaves two, the
  highest generation wins; if none is left (crash inside create), the greatest KEK id
  (ids begin with a UTC timestamp) is active.

Sessions: PKCS#11 login state belongs to the process, not to a session, and python-pkcs11's
Session.close() calls C_Logout, which logs out every session of the process. So all providers
of one token in one process share one logged-in session (reference-counted, one lock); the
last close() logs out. The token cannot check the PIN of a second provider (it answers
"already logged in" to any PIN), so the PIN is compared with a salted digest of the first one.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pkcs11
from pkcs11 import Attribute, GCMParams, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11 import exceptions as p11

from coffre.crypto.errors import KeyProviderError
from coffre.crypto.providers import _wrap_aad, new_kek_id

_VERSION = b"\x01"
_IV_LEN = 12
_TAG_LEN = 16
_GCM = Mechanism.AES_GCM
_KEK_PREFIX = "coffre-"
_ACTIVE_LABEL = "coffre-active-kek"
# python-pkcs11 does not set EXTRACTABLE by default: say it explicitly.
_KEK_TEMPLATE = {
    Attribute.SENSITIVE: True,
    Attribute.EXTRACTABLE: False,
    Attribute.PRIVATE: True,
    Attribute.MODIFIABLE: False,
}
_RECORD = {
    Attribute.CLASS: ObjectClass.DATA,
    Attribute.TOKEN: True,
    Attribute.PRIVATE: True,
    Attribute.LABEL: _ACTIVE_LABEL,
    Attribute.APPLICATION: "coffre",
}
_PIN_SALT = secrets.token_bytes(16)  # per process: PIN digests are only compared in memory
# What a token answers when the tag does not verify: SoftHSM2 says CKR_GENERAL_ERROR.
_BAD_CIPHERTEXT = (p11.GeneralError, p11.EncryptedDataInvalid, p11.EncryptedDataLenRange)


@dataclass
class _Shared:
    """One logged-in session of a token, shared by every provider of this process."""

    session: Any
    pin_digest: bytes
    lock: threading.Lock = field(default_factory=threading.Lock)
    users: int = 0
    keks: dict[str, Any] = field(default_factory=dict)  # kek id -> key object
    active: str = ""
    generation: int = 0


_REGISTRY: dict[tuple[str, int, bytes], _Shared] = {}
_REGISTRY_LOCK = threading.Lock()


def _gcm_params(iv: bytes, kek_id: str, context: bytes) -> GCMParams:
    return GCMParams(iv, _wrap_aad(kek_id, context), _TAG_LEN * 8)


def _pin_digest(pin: str) -> bytes:
    return hmac.new(_PIN_SALT, pin.encode(), hashlib.sha256).digest()


@contextlib.contextmanager
def _translated(label: str) -> Iterator[None]:
    """Raise any python-pkcs11 exception of the block as one KeyProviderError sentence."""
    try:
        yield
    except p11.PKCS11Error as exc:
        raise _token_error(exc, label) from None


def _token_error(exc: Exception, label: str) -> KeyProviderError:
    """Return one sentence naming what went wrong; never the PIN nor key material."""
    t = f"PKCS#11 token {label!r}"
    for kinds, message in (
        ((p11.NoSuchToken,), f"There is no {t}."),
        ((p11.MultipleTokensReturned,), f"More than one {t} exists; labels must be unique."),
        ((p11.PinIncorrect, p11.PinLenRange, p11.PinInvalid), f"The PIN for {t} is incorrect."),
        ((p11.PinLocked,), f"The user PIN of {t} is locked; reset it with the SO PIN."),
        ((p11.PinExpired,), f"The user PIN of {t} has expired; set a new one."),
        ((p11.UserPinNotInitialized,), f"The {t} has no user PIN; initialise the token first."),
        ((p11.UserAlreadyLoggedIn,), f"Other code in this process is logged in to {t}."),
        ((p11.TokenNotPresent, p11.DeviceRemoved), f"The {t} is not present."),
    ):
        if isinstance(exc, kinds):
            return KeyProviderError(message)
    return KeyProviderError(f"The {t} failed the operation ({type(exc).__name__}).")


class Pkcs11KeyProvider:
    """KEKs as non-extractable AES-256 keys in a PKCS#11 token; AES-GCM wrapping in the token."""

    def __init__(self, module_path: str, token_label: str, pin: str) -> None:
        """Log in to the token; raise KeyProviderError if unusable or if it holds no KEK."""
        self._start(module_path, token_label, pin, create=False)

    @classmethod
    def create(cls, module_path: str, token_label: str, pin: str) -> Pkcs11KeyProvider:
        """Generate the first KEK on an empty token; raise KeyProviderError if it has one."""
        self = cls.__new__(cls)
        self._start(module_path, token_label, pin, create=True)
        return self

    def _start(self, module_path: str, label: str, pin: str, *, create: bool) -> None:
        self._open(module_path, label, pin)
        try:
            with self._shared.lock:
                self._refresh()
                if bool(self._shared.keks) == create:
                    has, then = (
                        ("already has a", "nothing was changed")
                        if create
                        else ("has no", "run 'coffre init' first")
                    )
                    raise KeyProviderError(
                        f"The PKCS#11 token {label!r} {has} Coffre key-encryption key; {then}."
                    )
                if create:
                    self._rotate()
        except BaseException:
            self.close()
            raise

    def _open(self, module_path: str, label: str, pin: str) -> None:
        self._label, self._closed = label, True  # stays closed unless the login succeeds
        if not Path(module_path).is_file():
            raise KeyProviderError(f"The PKCS#11 library {module_path} does not exist.")
        try:
            lib = pkcs11.lib(module_path)
        except p11.PKCS11Error as exc:
            msg = f"The PKCS#11 library {module_path} cannot be loaded: {exc}"
            raise KeyProviderError(msg) from None
        with _translated(label):
            token = lib.get_token(token_label=label)
        self._key = (module_path, token.slot.slot_id, token.serial)
        digest = _pin_digest(pin)
        with _REGISTRY_LOCK:
            shared = _REGISTRY.get(self._key)
            if shared is None:
                with _translated(label):
                    session = token.open(rw=True, user_pin=pin)
                shared = _REGISTRY[self._key] = _Shared(session, digest)
            elif not hmac.compare_digest(shared.pin_digest, digest):
                raise KeyProviderError(f"The PIN for PKCS#11 token {label!r} is incorrect.")
            shared.users += 1
        self._shared, self._closed = shared, False

    # The helpers below run with self._shared.lock held.

    def _session(self) -> Any:
        if self._closed:
            raise KeyProviderError("The PKCS#11 key provider is closed.")
        return self._shared.session

    def _records(self) -> list[tuple[int, str, Any]]:
        """Active-KEK records on the token as (generation, kek id, object); bad ones skipped."""
        found = []
        query = {Attribute.CLASS: ObjectClass.DATA, Attribute.LABEL: _ACTIVE_LABEL}
        for obj in list(self._session().get_objects(query)):  # list: end the search first
            try:
                gen, kid = bytes(obj[Attribute.VALUE]).decode().split(" ", 1)
                found.append((int(gen), kid, obj))
            except ValueError:
                continue
        return found

    def _refresh(self) -> None:
        """Reload the KEKs and the active one from the token (another process may rotate)."""
        shared = self._shared
        query = {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.KEY_TYPE: KeyType.AES}
        with _translated(self._label):
            keys = list(self._session().get_objects(query))
            shared.keks = {
                label.removeprefix(_KEK_PREFIX): key
                for key in keys
                if (label := key[Attribute.LABEL]).startswith(_KEK_PREFIX + "kek-")
            }
            records = self._records()
        if records:
            shared.generation, shared.active, _ = max(records, key=lambda r: r[0])
            if shared.active not in shared.keks:
                raise KeyProviderError(
                    f"The PKCS#11 token {self._label!r} names an active key-encryption key "
                    "that is not on it."
                )
        elif shared.keks:
            shared.generation, shared.active = 0, max(shared.keks)

    def _rotate(self) -> str:
        """Generate a KEK on the token, record it as active, drop the older records."""
        session, shared = self._session(), self._shared
        kid = new_kek_id()
        with _translated(self._label):
            key = session.generate_key(
                KeyType.AES,
                256,
                id=kid.encode(),
                label=_KEK_PREFIX + kid,
                store=True,
                capabilities=MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT,
                template=_KEK_TEMPLATE,
            )
            old = self._records()
            generation = max([shared.generation, *(r[0] for r in old)]) + 1
            session.create_object({**_RECORD, Attribute.VALUE: f"{generation} {kid}".encode()})
            for _, _, obj in old:  # only after the new record exists: see module docstring
                obj.destroy()
        shared.keks[kid], shared.active, shared.generation = key, kid, generation
        return kid

    @property
    def active_kek_id(self) -> str:
        """The id of the KEK that new wraps use (as of the last rotation or refresh)."""
        return self._shared.active

    def kek_ids(self) -> list[str]:
        """Every Coffre KEK on the token, sorted by id; raise KeyProviderError on token errors."""
        with self._shared.lock:
            self._refresh()
            return sorted(self._shared.keks)

    def wrap(self, key: bytes, context: bytes) -> tuple[str, bytes]:
        """Return (kek id, b"\\x01" + IV + ciphertext||tag), sealed by the active KEK."""
        iv = os.urandom(_IV_LEN)
        with self._shared.lock, _translated(self._label):
            self._session()
            kid = self._shared.active
            params = _gcm_params(iv, kid, context)
            sealed = self._shared.keks[kid].encrypt(key, mechanism=_GCM, mechanism_param=params)
        return kid, _VERSION + iv + bytes(sealed)

    def unwrap(self, kek_id: str, wrapped: bytes, context: bytes) -> bytes:
        """Return the key; raise KeyProviderError if it does not open under that KEK and context."""
        if len(wrapped) < 1 + _IV_LEN + _TAG_LEN or wrapped[:1] != _VERSION:
            raise KeyProviderError("A wrapped key is malformed.")
        params = _gcm_params(bytes(wrapped[1 : 1 + _IV_LEN]), kek_id, context)
        with self._shared.lock:
            self._session()
            if kek_id not in self._shared.keks:
                self._refresh()  # a KEK made by another process since we last looked
            kek = self._shared.keks.get(kek_id)
            if kek is None:
                raise KeyProviderError(
                    f"The key-encryption key {kek_id!r} is not on PKCS#11 token {self._label!r}."
                )
            sealed = bytes(wrapped[1 + _IV_LEN :])
            with _translated(self._label):
                try:
                    return bytes(kek.decrypt(sealed, mechanism=_GCM, mechanism_param=params))
                except _BAD_CIPHERTEXT:
                    msg = "A wrapped key does not open under its key-encryption key."
                    raise KeyProviderError(msg) from None

    def new_kek(self) -> str:
        """Create a KEK in the token, make it active (older ones stay usable) and return its id."""
        with self._shared.lock:
            return self._rotate()

    def close(self) -> None:
        """Release this provider's share of the session; the last one logs out. Never raises."""
        if self._closed:
            return
        self._closed = True
        with _REGISTRY_LOCK:
            self._shared.users -= 1
            if self._shared.users:
                return
            _REGISTRY.pop(self._key, None)
            # If the token is gone or the library finalised, nothing is left to release.
            with self._shared.lock, contextlib.suppress(p11.PKCS11Error):
                self._shared.session.close()
