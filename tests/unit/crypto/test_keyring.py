"""Keyring over a key file and a SQLite key store: create, unwrap, shred, cache and rotate."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest

from coffre.crypto.errors import KeyDestroyed, KeyNotFound, KeyProviderError, KeyStoreError
from coffre.crypto.keyring import SYSTEM_KEY_NAMES, DataKey, Keyring
from coffre.crypto.keystore import KeyStore
from coffre.crypto.providers import FileKeyProvider

SUBJECTS = [f"patient-{n:02d}" for n in range(10)]


class CountingProvider(FileKeyProvider):
    """A key file that counts unwraps, to see what the cache spares."""

    unwraps = 0

    def unwrap(self, kek_id: str, wrapped: bytes, context: bytes) -> bytes:
        self.unwraps += 1
        return super().unwrap(kek_id, wrapped, context)


class Interrupted(Exception):
    """The process died here."""


class FlakyProvider(FileKeyProvider):
    """A key file whose wrap fails after `wraps_left` successful calls."""

    def __init__(self, path: Path, wraps_left: int) -> None:
        super().__init__(path)
        self.wraps_left = wraps_left

    def wrap(self, key: bytes, context: bytes) -> tuple[str, bytes]:
        if self.wraps_left == 0:
            raise Interrupted("power cut")
        self.wraps_left -= 1
        return super().wrap(key, context)


@pytest.fixture
def opened() -> Iterator[list[KeyStore]]:
    """Key stores opened by `reopen`, disposed at the end of the test."""
    stores: list[KeyStore] = []
    yield stores
    for store in stores:
        store.dispose()


Reopen = Callable[..., Keyring]


@pytest.fixture
def reopen(key_path: Path, store_url: str, opened: list[KeyStore]) -> Reopen:
    """A fresh Keyring (new provider, new store, empty caches) on the same files."""

    def make(
        provider_class: type[FileKeyProvider] = FileKeyProvider,
        *,
        cache_size: int = 4096,
        **provider_options: int,
    ) -> Keyring:
        store = KeyStore(store_url)
        opened.append(store)
        return Keyring(provider_class(key_path, **provider_options), store, cache_size=cache_size)

    return make


def db_path(store_url: str) -> Path:
    return Path(store_url.removeprefix("sqlite:///"))


def sql(store_url: str, statement: str, *params: object) -> list[tuple]:
    with closing(sqlite3.connect(db_path(store_url))) as conn:
        rows = conn.execute(statement, params).fetchall()
        conn.commit()
    return rows


def materials(keyring: Keyring, subjects: list[str]) -> dict[str, bytes]:
    return {s: keyring.data_key(s).material for s in subjects}


# data keys ----------------------------------------------------------------------


def test_new_data_keys_are_random_32_byte_version_1_keys(keyring: Keyring) -> None:
    keys = keyring.new_data_keys(["a", "b", "c"])
    assert [(k.subject_id, k.version) for k in keys] == [("a", 1), ("b", 1), ("c", 1)]
    assert all(len(k.material) == 32 for k in keys)
    assert len({k.material for k in keys}) == 3


def test_a_data_key_reads_back_the_same_from_a_fresh_keyring(
    keyring: Keyring, reopen: Reopen
) -> None:
    created = {k.subject_id: k for k in keyring.new_data_keys(SUBJECTS)}
    fresh = reopen()
    for subject in SUBJECTS:
        assert fresh.data_key(subject) == created[subject]
        assert fresh.data_key(subject, 1) == created[subject]


def test_the_key_store_holds_only_wrapped_keys(keyring: Keyring, store_url: str) -> None:
    (key,) = keyring.new_data_keys(["a"])
    raw = db_path(store_url).read_bytes()
    assert key.material not in raw
    ((wrapped,),) = sql(store_url, "SELECT wrapped FROM data_keys WHERE subject_id = 'a'")
    assert len(wrapped) == 1 + 12 + 32 + 16


def test_a_key_that_was_never_made_is_not_found(keyring: Keyring) -> None:
    keyring.new_data_keys(["a"])
    with pytest.raises(KeyNotFound, match="No data key exists"):
        keyring.data_key("never")
    with pytest.raises(KeyNotFound):
        keyring.data_key("a", 2)


def test_a_destroyed_key_is_reported_destroyed_not_missing(
    keyring: Keyring, reopen: Reopen
) -> None:
    keyring.new_data_keys(["a", "b"])
    keyring.data_key("a")
    assert keyring.destroy(["a"]) == 1
    with pytest.raises(KeyDestroyed, match="destroyed; the data is erased"):
        keyring.data_key("a")
    fresh = reopen()
    with pytest.raises(KeyDestroyed):
        fresh.data_key("a")
    assert fresh.data_key("b").subject_id == "b"


def test_a_wrapped_key_copied_to_another_subject_does_not_unwrap(
    keyring: Keyring,
    store_url: str,
    reopen: Reopen,
) -> None:
    keyring.new_data_keys(["victim", "attacker"])
    sql(
        store_url,
        "UPDATE data_keys SET wrapped = (SELECT wrapped FROM data_keys WHERE subject_id = ?),"
        " kek_id = (SELECT kek_id FROM data_keys WHERE subject_id = ?) WHERE subject_id = ?",
        "victim",
        "victim",
        "attacker",
    )
    fresh = reopen()
    with pytest.raises(KeyProviderError, match="does not open"):
        fresh.data_key("attacker")
    assert len(fresh.data_key("victim").material) == 32


def test_a_wrapped_key_copied_to_another_version_does_not_unwrap(
    keyring: Keyring,
    store_url: str,
    reopen: Reopen,
) -> None:
    keyring.new_data_keys(["a"])
    sql(
        store_url,
        "INSERT INTO data_keys (subject_id, version, kek_id, wrapped, created_at)"
        " SELECT subject_id, 2, kek_id, wrapped, created_at FROM data_keys WHERE subject_id = 'a'",
    )
    with pytest.raises(KeyProviderError):
        reopen().data_key("a", 2)


def test_creating_a_key_for_a_subject_that_has_one_fails_and_keeps_the_old_key(
    keyring: Keyring,
    reopen: Reopen,
) -> None:
    (original,) = keyring.new_data_keys(["a"])
    with pytest.raises(KeyStoreError, match="IntegrityError"):
        keyring.new_data_keys(["a"])
    assert keyring.data_key("a") == original
    assert reopen().data_key("a") == original


def test_new_data_keys_are_stored_all_or_none(keyring: Keyring) -> None:
    with pytest.raises(KeyStoreError):
        keyring.new_data_keys(["x", "y", "x"])
    assert keyring.store.subjects_with_keys(["x", "y"]) == []
    with pytest.raises(KeyNotFound):
        keyring.data_key("y")


# the cache ----------------------------------------------------------------------


def test_the_cache_is_a_bounded_lru(keyring: Keyring, reopen: Reopen) -> None:
    keyring.new_data_keys(["a", "b", "c"])
    fresh = reopen(CountingProvider, cache_size=2)
    provider = fresh.provider
    assert isinstance(provider, CountingProvider)
    fresh.data_key("a")
    fresh.data_key("b")
    assert provider.unwraps == 2
    fresh.data_key("a")  # cached, and now the most recently used
    assert provider.unwraps == 2
    fresh.data_key("c")  # evicts b, the least recently used
    assert provider.unwraps == 3
    fresh.data_key("a")
    fresh.data_key("c")
    assert provider.unwraps == 3
    fresh.data_key("b")
    assert provider.unwraps == 4


def test_new_data_keys_fill_the_cache_within_its_bound(
    key_path: Path, provider: FileKeyProvider, store: KeyStore
) -> None:
    keyring = Keyring(CountingProvider(key_path), store, cache_size=2)
    keyring.new_data_keys(["a", "b", "c"])
    keyring.data_key("b")
    keyring.data_key("c")
    assert keyring.provider.unwraps == 0  # type: ignore[attr-defined]
    keyring.data_key("a")
    assert keyring.provider.unwraps == 1  # type: ignore[attr-defined]


def test_destroying_a_subject_evicts_its_cached_key(keyring: Keyring) -> None:
    keyring.new_data_keys(["a", "b"])
    assert keyring.data_key("a").material
    keyring.destroy(["a"])
    with pytest.raises(KeyDestroyed):
        keyring.data_key("a")
    assert keyring.data_key("b").subject_id == "b"


def test_forgetting_the_cache_unwraps_again(keyring: Keyring, reopen: Reopen) -> None:
    keyring.new_data_keys(["a"])
    fresh = reopen(CountingProvider)
    first = fresh.data_key("a")
    fresh.forget_cache()
    assert fresh.data_key("a") == first
    assert fresh.provider.unwraps == 2


# system keys ----------------------------------------------------------------------


def test_system_keys_are_made_once_and_read_back_the_same(
    keyring: Keyring,
    store: KeyStore,
    reopen: Reopen,
) -> None:
    with pytest.raises(KeyNotFound, match="run 'coffre init'"):
        keyring.system_key("blind-index")
    keyring.ensure_system_keys()
    rows = sorted(store.system_keys())
    keyring.ensure_system_keys()
    reopen().ensure_system_keys()
    assert sorted(store.system_keys()) == rows
    assert [name for name, _, _ in rows] == sorted(SYSTEM_KEY_NAMES)
    keys = {name: keyring.system_key(name) for name in SYSTEM_KEY_NAMES}
    assert all(len(k) == 32 for k in keys.values())
    assert len(set(keys.values())) == len(SYSTEM_KEY_NAMES)
    fresh = reopen(CountingProvider)
    assert {name: fresh.system_key(name) for name in SYSTEM_KEY_NAMES} == keys
    assert fresh.system_key("blind-index") == keys["blind-index"]
    assert fresh.provider.unwraps == len(SYSTEM_KEY_NAMES)


def test_ensure_system_keys_adds_only_the_missing_ones(
    keyring: Keyring,
    store_url: str,
    reopen: Reopen,
) -> None:
    keyring.ensure_system_keys()
    kept = keyring.system_key("blind-index")
    sql(store_url, "DELETE FROM system_keys WHERE name = 'token-signing'")
    fresh = reopen()
    fresh.ensure_system_keys()
    assert fresh.system_key("blind-index") == kept
    assert len(fresh.system_key("token-signing")) == 32


def test_a_system_key_swapped_with_another_does_not_unwrap(
    keyring: Keyring,
    store_url: str,
    reopen: Reopen,
) -> None:
    keyring.ensure_system_keys()
    sql(
        store_url,
        "UPDATE system_keys SET wrapped = (SELECT wrapped FROM system_keys WHERE name = ?)"
        " WHERE name = ?",
        "journal-signing",
        "blind-index",
    )
    with pytest.raises(KeyProviderError):
        reopen().system_key("blind-index")


def test_a_system_key_does_not_unwrap_as_a_data_key(
    keyring: Keyring,
    store_url: str,
    reopen: Reopen,
) -> None:
    keyring.ensure_system_keys()
    sql(
        store_url,
        "INSERT INTO data_keys (subject_id, version, kek_id, wrapped, created_at)"
        " SELECT name, 1, kek_id, wrapped, created_at FROM system_keys WHERE name = 'blind-index'",
    )
    with pytest.raises(KeyProviderError):
        reopen().data_key("blind-index")


# rotation ------------------------------------------------------------------------


def kek_ids_in_store(store_url: str) -> set[str]:
    data = sql(store_url, "SELECT DISTINCT kek_id FROM data_keys")
    system = sql(store_url, "SELECT DISTINCT kek_id FROM system_keys")
    return {k for (k,) in data + system}


def test_rotation_rewraps_every_key_under_a_new_kek_and_keeps_the_keys(
    keyring: Keyring,
    store_url: str,
    reopen: Reopen,
) -> None:
    keyring.ensure_system_keys()
    keyring.new_data_keys(SUBJECTS)
    old_kek = keyring.provider.active_kek_id
    before = materials(keyring, SUBJECTS)
    system_before = {n: keyring.system_key(n) for n in SYSTEM_KEY_NAMES}
    wrapped_before = set(sql(store_url, "SELECT wrapped FROM data_keys"))
    steps: list[tuple[int, int]] = []

    report = keyring.rotate(batch_size=3, progress=lambda done, total: steps.append((done, total)))

    assert report.kek_id == keyring.provider.active_kek_id != old_kek
    assert report.rewrapped == len(SUBJECTS)
    assert not report.resumed
    assert steps == [(3, 10), (6, 10), (9, 10), (10, 10)]
    assert kek_ids_in_store(store_url) == {report.kek_id}
    assert wrapped_before.isdisjoint(sql(store_url, "SELECT wrapped FROM data_keys"))
    assert keyring.pending_rotation() is None
    fresh = reopen()
    assert fresh.provider.kek_ids() == [old_kek, report.kek_id]
    assert materials(fresh, SUBJECTS) == before
    assert {n: fresh.system_key(n) for n in SYSTEM_KEY_NAMES} == system_before


def test_rotating_an_empty_key_store_still_moves_to_a_new_kek(keyring: Keyring) -> None:
    old_kek = keyring.provider.active_kek_id
    report = keyring.rotate()
    assert report.rewrapped == 0
    assert report.kek_id != old_kek
    assert keyring.pending_rotation() is None


def test_rotating_twice_keeps_every_kek_and_every_key(keyring: Keyring, reopen: Reopen) -> None:
    keyring.new_data_keys(SUBJECTS[:3])
    before = materials(keyring, SUBJECTS[:3])
    first, second = keyring.rotate(), keyring.rotate()
    assert first.kek_id != second.kek_id
    assert second.rewrapped == 3
    fresh = reopen()
    assert len(fresh.provider.kek_ids()) == 3
    assert materials(fresh, SUBJECTS[:3]) == before


@pytest.mark.parametrize(
    "wraps_before_failure",
    [0, 2, 4, 6, 7, 11],
    ids=[
        "first-system-key",
        "mid-system-keys",
        "first-data-key",
        "mid-first-batch",
        "first-key-of-second-batch",
        "mid-third-batch",
    ],
)
def test_an_interrupted_rotation_resumes_with_the_same_kek(
    keyring: Keyring,
    store_url: str,
    reopen: Reopen,
    wraps_before_failure: int,
) -> None:
    keyring.ensure_system_keys()  # 4 system keys, then 10 data keys in batches of 3
    keyring.new_data_keys(SUBJECTS)
    before = materials(keyring, SUBJECTS)
    system_before = {n: keyring.system_key(n) for n in SYSTEM_KEY_NAMES}

    flaky = reopen(FlakyProvider, wraps_left=wraps_before_failure)
    with pytest.raises(Interrupted):
        flaky.rotate(batch_size=3)
    target = flaky.provider.active_kek_id
    assert flaky.pending_rotation() == target
    moved_data = max(0, wraps_before_failure - len(SYSTEM_KEY_NAMES)) // 3 * 3
    assert flaky.store.count_data_keys(not_under=target) == len(SUBJECTS) - moved_data
    moved_rows = sql(store_url, "SELECT * FROM data_keys WHERE kek_id = ?", target)
    moved_rows += sql(store_url, "SELECT * FROM system_keys WHERE kek_id = ?", target)

    interrupted = reopen()  # keys stay readable halfway, under either KEK
    assert materials(interrupted, SUBJECTS) == before
    assert {n: interrupted.system_key(n) for n in SYSTEM_KEY_NAMES} == system_before

    resumed = reopen()
    keks = resumed.provider.kek_ids()
    report = resumed.rotate(batch_size=3)
    assert report.resumed
    assert report.kek_id == target
    assert report.rewrapped == len(SUBJECTS) - moved_data
    assert resumed.provider.kek_ids() == keks  # no third KEK
    assert kek_ids_in_store(store_url) == {target}
    assert resumed.pending_rotation() is None
    # Keys already under the target were skipped, not wrapped a second time.
    after = sql(store_url, "SELECT * FROM data_keys") + sql(store_url, "SELECT * FROM system_keys")
    assert set(moved_rows) <= set(after)
    fresh = reopen()
    assert materials(fresh, SUBJECTS) == before
    assert {n: fresh.system_key(n) for n in SYSTEM_KEY_NAMES} == system_before


def test_a_resumed_rotation_fails_clearly_if_the_target_kek_is_gone(
    keyring: Keyring,
    key_path: Path,
    store_url: str,
    reopen: Reopen,
) -> None:
    keyring.new_data_keys(SUBJECTS[:4])
    before = materials(keyring, SUBJECTS[:4])
    backup = key_path.read_bytes()
    flaky = reopen(FlakyProvider, wraps_left=1)
    with pytest.raises(Interrupted):
        flaky.rotate(batch_size=1)
    target = flaky.pending_rotation()
    assert target is not None
    key_path.write_bytes(backup)  # the key file restored from a copy older than the rotation
    stuck = reopen()
    rows_before = sql(store_url, "SELECT subject_id, kek_id, wrapped FROM data_keys")
    with pytest.raises(KeyProviderError, match=f"targets {target}, which the key provider no"):
        stuck.rotate()
    assert sql(store_url, "SELECT subject_id, kek_id, wrapped FROM data_keys") == rows_before
    assert stuck.pending_rotation() == target
    with pytest.raises(KeyProviderError, match="not in the key file"):
        materials(stuck, SUBJECTS[:4])
    assert materials(stuck, SUBJECTS[1:4]) == {s: before[s] for s in SUBJECTS[1:4]}


def test_a_pending_target_unknown_to_the_provider_is_refused(keyring: Keyring) -> None:
    keyring.new_data_keys(["a"])
    keyring.store.set_meta("rotation-target", "kek-from-elsewhere")
    with pytest.raises(KeyProviderError, match="kek-from-elsewhere"):
        keyring.rotate()


def test_an_interrupted_rotation_overtaken_by_a_newer_kek_finishes_under_it(
    keyring: Keyring,
    store_url: str,
    reopen: Reopen,
) -> None:
    keyring.ensure_system_keys()
    keyring.new_data_keys(["a"])
    flaky = reopen(FlakyProvider, wraps_left=0)
    with pytest.raises(Interrupted):
        flaky.rotate()
    target = flaky.pending_rotation()
    moved_on = reopen()
    newest = moved_on.provider.new_kek()  # someone made another KEK active meanwhile
    report = moved_on.rotate()
    assert report.resumed
    assert report.kek_id == newest != target
    assert kek_ids_in_store(store_url) == {newest}
    assert moved_on.pending_rotation() is None


def test_making_keys_for_no_subject_makes_none(keyring: Keyring) -> None:
    assert keyring.new_data_keys([]) == []
    assert keyring.store.count_data_keys() == 0


def test_data_keys_compare_by_value() -> None:
    assert DataKey("a", 1, b"k") == DataKey("a", 1, b"k")
    assert DataKey("a", 1, b"k") != DataKey("a", 2, b"k")


def test_a_keyring_opened_before_a_rotation_elsewhere_still_reads_every_key(
    keyring: Keyring, reopen: Reopen
) -> None:
    (key,) = keyring.new_data_keys(["a"])
    server = reopen()  # a long-running process, opened before the rotation
    reopen().rotate()  # `coffre keys rotate` in another process
    assert server.data_key("a") == key


class OvertakenProvider(FileKeyProvider):
    """A key file that another process rotates after `wraps_left` wraps of this one."""

    def __init__(self, path: Path, wraps_left: int) -> None:
        super().__init__(path)
        self.wraps_left = wraps_left

    def wrap(self, key: bytes, context: bytes) -> tuple[str, bytes]:
        if self.wraps_left == 0:
            FileKeyProvider(self.path).new_kek()
        self.wraps_left -= 1
        return super().wrap(key, context)


def test_a_kek_made_elsewhere_during_a_rotation_stops_it_and_a_rerun_finishes(
    keyring: Keyring, store_url: str, reopen: Reopen
) -> None:
    keyring.ensure_system_keys()
    keyring.new_data_keys(["a", "b", "c"])
    racing = reopen(OvertakenProvider, wraps_left=2)
    with pytest.raises(KeyProviderError, match="changed during rotation"):
        racing.rotate(batch_size=1)
    report = reopen().rotate()
    assert report.resumed
    assert kek_ids_in_store(store_url) == {report.kek_id}
