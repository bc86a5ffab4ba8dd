"""The key ring: data keys and system keys, unwrapped on demand through the key provider.

KEK (provider) -> wraps per-subject data keys and system keys (key store) -> data keys seal
fields. Unwrapped data keys are kept in a bounded LRU cache; destroying a subject evicts it.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from coffre.crypto.errors import KeyDestroyed, KeyNotFound, KeyProviderError
from coffre.crypto.keystore import KeyStore
from coffre.crypto.providers import KeyProvider

BLIND_INDEX_KEY = "blind-index"
JOURNAL_SIGNING_KEY = "journal-signing"
TOKEN_SIGNING_KEY = "token-signing"  # noqa: S105 (a key's name, not a key)
SYSTEM_SECRETS_KEY = "system-secrets"
SYSTEM_KEY_NAMES = (BLIND_INDEX_KEY, JOURNAL_SIGNING_KEY, TOKEN_SIGNING_KEY, SYSTEM_SECRETS_KEY)

_ROTATION_TARGET = "rotation-target"


def _data_context(subject_id: str, version: int) -> bytes:
    return b"data-key\x00" + subject_id.encode() + b"\x00" + str(version).encode()


def _system_context(name: str) -> bytes:
    return b"system-key\x00" + name.encode()


@dataclass(frozen=True)
class DataKey:
    subject_id: str
    version: int
    material: bytes


@dataclass(frozen=True)
class RotationReport:
    kek_id: str
    rewrapped: int
    resumed: bool


class Keyring:
    """Creates, unwraps, destroys and re-wraps keys; the only holder of unwrapped keys."""

    def __init__(self, provider: KeyProvider, store: KeyStore, *, cache_size: int = 4096) -> None:
        self.provider = provider
        self.store = store
        self._cache: OrderedDict[tuple[str, int], DataKey] = OrderedDict()
        self._cache_size = cache_size
        self._system: dict[str, bytes] = {}
        self._lock = threading.Lock()

    # system keys -----------------------------------------------------------

    def ensure_system_keys(self) -> None:
        """Generate the system keys that do not exist yet (once, at init)."""
        for name in SYSTEM_KEY_NAMES:
            if self.store.get_system_key(name) is None:
                kek_id, wrapped = self.provider.wrap(secrets.token_bytes(32), _system_context(name))
                self.store.put_system_key(name, kek_id, wrapped)

    def system_key(self, name: str) -> bytes:
        """The unwrapped system key; raise KeyNotFound if it was never generated."""
        with self._lock:
            cached = self._system.get(name)
        if cached is not None:
            return cached
        row = self.store.get_system_key(name)
        if row is None:
            raise KeyNotFound(f"The system key {name!r} does not exist; run 'coffre init'.")
        key = self.provider.unwrap(row[0], row[1], _system_context(name))
        with self._lock:
            self._system[name] = key
        return key

    # data keys -------------------------------------------------------------

    def new_data_keys(self, subject_ids: list[str]) -> list[DataKey]:
        """Generate, wrap and store version-1 data keys for new subjects, in one transaction."""
        keys: list[DataKey] = []
        rows: list[tuple[str, int, str, bytes]] = []
        for subject_id in subject_ids:
            material = secrets.token_bytes(32)
            kek_id, wrapped = self.provider.wrap(material, _data_context(subject_id, 1))
            rows.append((subject_id, 1, kek_id, wrapped))
            keys.append(DataKey(subject_id, 1, material))
        self.store.put_data_keys(rows)
        with self._lock:
            for key in keys:
                self._remember(key)
        return keys

    def data_key(self, subject_id: str, version: int = 1) -> DataKey:
        """The subject's data key; raise KeyDestroyed after erasure, KeyNotFound if never made."""
        with self._lock:
            cached = self._cache.get((subject_id, version))
            if cached is not None:
                self._cache.move_to_end((subject_id, version))
                return cached
        row = self.store.get_data_key(subject_id, version)
        if row is None:
            if self.store.is_destroyed(subject_id):
                raise KeyDestroyed("This patient's data key was destroyed; the data is erased.")
            raise KeyNotFound("No data key exists for this patient.")
        material = self.provider.unwrap(row[0], row[1], _data_context(subject_id, version))
        key = DataKey(subject_id, version, material)
        with self._lock:
            self._remember(key)
        return key

    def destroy(self, subject_ids: list[str]) -> int:
        """Destroy every data key of these subjects (crypto-shredding); return keys deleted."""
        with self._lock:
            for cached in [k for k in self._cache if k[0] in set(subject_ids)]:
                del self._cache[cached]
        return self.store.destroy(subject_ids)

    def forget_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    def _remember(self, key: DataKey) -> None:
        self._cache[(key.subject_id, key.version)] = key
        self._cache.move_to_end((key.subject_id, key.version))
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    # rotation --------------------------------------------------------------

    def pending_rotation(self) -> str | None:
        return self.store.get_meta(_ROTATION_TARGET)

    def rotate(
        self,
        *,
        batch_size: int = 500,
        progress: Callable[[int, int], None] | None = None,
    ) -> RotationReport:
        """Re-wrap every key under a new KEK without touching the data.

        Resumable: the target KEK is recorded before any re-wrap, so a rerun after an
        interruption carries on with the same KEK and skips keys already moved.
        """
        target = self.pending_rotation()
        resumed = target is not None
        if target is None:
            target = self.provider.new_kek()
            self.store.set_meta(_ROTATION_TARGET, target)
        elif target not in self.provider.kek_ids():
            raise KeyProviderError(
                f"An interrupted rotation targets {target}, which the key provider no longer has."
            )
        elif target != self.provider.active_kek_id:
            # A newer KEK became active since the interruption: finish under that one, so
            # every key still ends under the active KEK and the rotation cannot get stuck.
            target = self.provider.active_kek_id
            self.store.set_meta(_ROTATION_TARGET, target)
        total = self.store.count_data_keys(not_under=target)
        done = 0
        for name, kek_id, wrapped in list(self.store.system_keys()):
            if kek_id != target:
                key = self.provider.unwrap(kek_id, wrapped, _system_context(name))
                new_kek, new_wrapped = self._wrap_under(target, key, _system_context(name))
                self.store.put_system_key(name, new_kek, new_wrapped, replace=True)
        while True:
            batch = self.store.data_keys_not_under(target, batch_size)
            if not batch:
                break
            rewrapped = []
            for subject_id, version, kek_id, wrapped in batch:
                context = _data_context(subject_id, version)
                material = self.provider.unwrap(kek_id, wrapped, context)
                rewrapped.append(
                    (subject_id, version, *self._wrap_under(target, material, context))
                )
            self.store.replace_wrapped(rewrapped)
            done += len(batch)
            if progress is not None:
                progress(done, total)
        self.store.set_meta(_ROTATION_TARGET, None)
        return RotationReport(kek_id=target, rewrapped=done, resumed=resumed)

    def _wrap_under(self, target: str, key: bytes, context: bytes) -> tuple[str, bytes]:
        kek_id, wrapped = self.provider.wrap(key, context)
        if kek_id != target:
            raise KeyProviderError(
                f"The key provider's active key-encryption key changed during rotation to {target}."
            )
        return kek_id, wrapped
