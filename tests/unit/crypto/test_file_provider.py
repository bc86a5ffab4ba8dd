"""FileKeyProvider: an owner-only key file, context-bound wraps, atomic KEK rotation."""

from __future__ import annotations

import base64
import json
import os
import re
import stat
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coffre.crypto import providers
from coffre.crypto.errors import KeyFileError, KeyProviderError
from coffre.crypto.providers import KEY_FILE_FORMAT, FileKeyProvider, check_private_file

examples = settings(max_examples=50, deadline=None, database=None)

CONTEXT = b"data-key\x00patient-1\x001"
KEY = bytes(range(32))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def write_key_file(path: Path, body: Any, *, raw: bytes | None = None) -> Path:
    """Write an owner-only key file with `body` as JSON (or `raw` bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw if raw is not None else json.dumps(body).encode())
    path.chmod(0o600)
    return path


def key_file_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "format": KEY_FILE_FORMAT,
        "demo": False,
        "active": "kek-a",
        "keys": {"kek-a": base64.b64encode(bytes(32)).decode()},
    }
    body.update(changes)
    return body


@pytest.fixture(scope="module")
def shared_provider(tmp_path_factory: pytest.TempPathFactory) -> FileKeyProvider:
    """One provider for the property tests, whose examples only wrap and unwrap."""
    return FileKeyProvider.create(tmp_path_factory.mktemp("shared") / "kek.json")


# creating ------------------------------------------------------------------


def test_create_writes_an_owner_only_key_file_in_an_owner_only_directory(key_path: Path) -> None:
    provider = FileKeyProvider.create(key_path)
    assert mode(key_path) == 0o600
    assert mode(key_path.parent) == 0o700
    body = json.loads(key_path.read_text(encoding="utf-8"))
    assert body["format"] == KEY_FILE_FORMAT
    assert body["demo"] is False
    assert body["active"] == provider.active_kek_id
    assert list(body["keys"]) == [provider.active_kek_id] == provider.kek_ids()
    assert len(base64.b64decode(body["keys"][provider.active_kek_id])) == 32
    assert not provider.demo


def test_a_kek_id_is_a_timestamp_and_a_random_suffix(provider: FileKeyProvider) -> None:
    assert re.fullmatch(r"kek-\d{8}T\d{6}-[0-9a-f]{8}", provider.active_kek_id)


def test_create_refuses_to_overwrite_a_key_file(key_path: Path, provider: FileKeyProvider) -> None:
    before = key_path.read_bytes()
    with pytest.raises(KeyFileError, match="already exists; nothing was changed"):
        FileKeyProvider.create(key_path)
    assert key_path.read_bytes() == before
    assert FileKeyProvider(key_path).active_kek_id == provider.active_kek_id


def test_two_key_files_hold_different_keks(tmp_path: Path) -> None:
    first = FileKeyProvider.create(tmp_path / "a.json")
    second = FileKeyProvider.create(tmp_path / "b.json")
    assert first.active_kek_id != second.active_kek_id
    keys = [json.loads(p.read_text())["keys"] for p in (tmp_path / "a.json", tmp_path / "b.json")]
    assert set(keys[0].values()).isdisjoint(keys[1].values())


def test_a_reopened_key_file_unwraps_what_was_wrapped(
    key_path: Path, provider: FileKeyProvider
) -> None:
    kek_id, wrapped = provider.wrap(KEY, CONTEXT)
    reopened = FileKeyProvider(key_path)
    assert reopened.active_kek_id == kek_id
    assert reopened.unwrap(kek_id, wrapped, CONTEXT) == KEY


def test_close_leaves_the_provider_usable(provider: FileKeyProvider) -> None:
    assert provider.close() is None
    kek_id, wrapped = provider.wrap(KEY, CONTEXT)
    assert provider.unwrap(kek_id, wrapped, CONTEXT) == KEY


# opening -------------------------------------------------------------------


@pytest.mark.parametrize(
    "file_mode", [0o640, 0o604, 0o644, 0o660, 0o620, 0o602, 0o610, 0o601, 0o666]
)
def test_a_key_file_open_to_group_or_others_is_refused_with_the_fix(
    key_path: Path, provider: FileKeyProvider, file_mode: int
) -> None:
    key_path.chmod(file_mode)
    with pytest.raises(KeyFileError) as refused:
        FileKeyProvider(key_path)
    message = str(refused.value)
    assert f"chmod 600 {key_path}" in message
    assert f"{file_mode:04o}" in message
    key_path.chmod(0o600)
    assert FileKeyProvider(key_path).active_kek_id == provider.active_kek_id


@pytest.mark.parametrize("file_mode", [0o600, 0o400, 0o700])
def test_an_owner_only_key_file_is_accepted(
    key_path: Path, provider: FileKeyProvider, file_mode: int
) -> None:
    key_path.chmod(file_mode)
    check_private_file(key_path)
    assert FileKeyProvider(key_path).active_kek_id == provider.active_kek_id


def test_a_missing_key_file_says_to_run_init(key_path: Path) -> None:
    with pytest.raises(KeyFileError, match=r"does not exist; run 'coffre init' first"):
        FileKeyProvider(key_path)


def test_a_directory_is_not_a_key_file(tmp_path: Path) -> None:
    directory = tmp_path / "kek.json"
    directory.mkdir(mode=0o700)
    with pytest.raises(KeyFileError, match="not a regular file"):
        check_private_file(directory)
    with pytest.raises(KeyFileError, match="not a regular file"):
        FileKeyProvider(directory)


def test_a_fifo_is_not_a_key_file(tmp_path: Path) -> None:
    fifo = tmp_path / "kek.json"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(KeyFileError, match="not a regular file"):
        FileKeyProvider(fifo)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"\xff\xfe\x00binary",
        b"[]",
        b'"kek"',
        b"null",
        b"{}",
        json.dumps(key_file_body(format="coffre-keyfile/2")).encode(),
        json.dumps(key_file_body(format=None)).encode(),
        json.dumps({k: v for k, v in key_file_body().items() if k != "format"}).encode(),
        json.dumps({k: v for k, v in key_file_body().items() if k != "keys"}).encode(),
        json.dumps({k: v for k, v in key_file_body().items() if k != "active"}).encode(),
        json.dumps(key_file_body(keys=["kek-a"])).encode(),
        json.dumps(key_file_body(keys="kek-a")).encode(),
        json.dumps(key_file_body(keys={"kek-a": "!!! not base64 !!!"})).encode(),
        json.dumps(key_file_body(keys={"kek-a": 12345})).encode(),
        json.dumps(key_file_body(keys={"kek-a": None})).encode(),
    ],
    ids=[
        "empty",
        "not-json",
        "not-utf8",
        "list",
        "string",
        "null",
        "empty-object",
        "other-format",
        "null-format",
        "no-format",
        "no-keys",
        "no-active",
        "keys-list",
        "keys-string",
        "bad-base64",
        "key-number",
        "key-null",
    ],
)
def test_a_file_that_is_not_a_coffre_key_file_is_refused(key_path: Path, raw: bytes) -> None:
    write_key_file(key_path, None, raw=raw)
    with pytest.raises(KeyFileError, match="is not a Coffre key file"):
        FileKeyProvider(key_path)


@pytest.mark.parametrize(
    "body",
    [
        key_file_body(keys={"kek-a": base64.b64encode(bytes(16)).decode()}),
        key_file_body(keys={"kek-a": base64.b64encode(bytes(31)).decode()}),
        key_file_body(keys={"kek-a": base64.b64encode(bytes(33)).decode()}),
        key_file_body(keys={"kek-a": ""}),
        key_file_body(
            keys={
                "kek-a": base64.b64encode(bytes(32)).decode(),
                "kek-b": base64.b64encode(bytes(24)).decode(),
            }
        ),
        key_file_body(active="kek-b"),
        key_file_body(keys={}),
    ],
    ids=[
        "16-bytes",
        "31-bytes",
        "33-bytes",
        "empty-key",
        "one-bad-of-two",
        "active-missing",
        "no-key",
    ],
)
def test_a_damaged_key_file_is_refused(key_path: Path, body: dict[str, Any]) -> None:
    write_key_file(key_path, body)
    with pytest.raises(KeyFileError, match="damaged: a key is missing or has the wrong size"):
        FileKeyProvider(key_path)


def test_a_hand_written_key_file_is_accepted(key_path: Path) -> None:
    write_key_file(key_path, key_file_body())
    provider = FileKeyProvider(key_path)
    assert provider.active_kek_id == "kek-a"
    assert provider.kek_ids() == ["kek-a"]


# demo keys -----------------------------------------------------------------


def test_a_demo_key_file_is_refused_outside_demo_mode(key_path: Path) -> None:
    created = FileKeyProvider.create(key_path, demo=True)
    assert created.demo
    assert "DEMO KEY" in json.loads(key_path.read_text())["comment"]
    with pytest.raises(KeyFileError, match="demo key and is refused outside demo mode"):
        FileKeyProvider(key_path)
    opened = FileKeyProvider(key_path, allow_demo=True)
    assert opened.demo
    assert opened.active_kek_id == created.active_kek_id


def test_a_real_key_file_is_accepted_in_demo_mode(
    key_path: Path, provider: FileKeyProvider
) -> None:
    assert not FileKeyProvider(key_path, allow_demo=True).demo


def test_a_demo_key_file_stays_a_demo_key_file_after_a_new_kek(key_path: Path) -> None:
    FileKeyProvider.create(key_path, demo=True).new_kek()
    with pytest.raises(KeyFileError, match="demo"):
        FileKeyProvider(key_path)


# wrapping ------------------------------------------------------------------


@examples
@given(key=st.binary(max_size=64), context=st.binary(max_size=64))
def test_a_wrapped_key_unwraps_under_its_context(
    shared_provider: FileKeyProvider, key: bytes, context: bytes
) -> None:
    kek_id, wrapped = shared_provider.wrap(key, context)
    assert kek_id == shared_provider.active_kek_id
    assert wrapped[:1] == b"\x01"
    assert len(wrapped) == 1 + 12 + len(key) + 16
    assert shared_provider.unwrap(kek_id, wrapped, context) == key


def test_wrapping_twice_gives_different_bytes(provider: FileKeyProvider) -> None:
    assert provider.wrap(KEY, CONTEXT)[1] != provider.wrap(KEY, CONTEXT)[1]


@pytest.mark.parametrize(
    "context",
    [
        b"",
        b"data-key\x00patient-2\x001",
        b"data-key\x00patient-1\x002",
        b"system-key\x00patient-1",
        CONTEXT + b"\x00",
    ],
)
def test_a_wrapped_key_does_not_unwrap_under_another_context(
    provider: FileKeyProvider, context: bytes
) -> None:
    kek_id, wrapped = provider.wrap(KEY, CONTEXT)
    with pytest.raises(KeyProviderError, match="does not open"):
        provider.unwrap(kek_id, wrapped, context)


@examples
@given(data=st.data())
def test_flipping_any_bit_of_a_wrapped_key_fails(
    shared_provider: FileKeyProvider, data: st.DataObject
) -> None:
    kek_id, wrapped = shared_provider.wrap(KEY, CONTEXT)
    index = data.draw(st.integers(0, len(wrapped) - 1), label="index")
    bit = data.draw(st.integers(0, 7), label="bit")
    tampered = bytearray(wrapped)
    tampered[index] ^= 1 << bit
    with pytest.raises(KeyProviderError):
        shared_provider.unwrap(kek_id, bytes(tampered), CONTEXT)


@examples
@given(data=st.data())
def test_a_truncated_wrapped_key_fails(
    shared_provider: FileKeyProvider, data: st.DataObject
) -> None:
    kek_id, wrapped = shared_provider.wrap(KEY, CONTEXT)
    length = data.draw(st.integers(0, len(wrapped) - 1), label="length")
    with pytest.raises(KeyProviderError):
        shared_provider.unwrap(kek_id, wrapped[:length], CONTEXT)


@pytest.mark.parametrize(
    "wrapped", [b"", b"\x01", b"\x01" + bytes(27), b"\x02" + bytes(60), b"\x00" + bytes(28)]
)
def test_a_malformed_wrapped_key_is_refused(provider: FileKeyProvider, wrapped: bytes) -> None:
    with pytest.raises(KeyProviderError, match="malformed"):
        provider.unwrap(provider.active_kek_id, wrapped, CONTEXT)


def test_an_unknown_kek_id_is_refused(provider: FileKeyProvider) -> None:
    _, wrapped = provider.wrap(KEY, CONTEXT)
    with pytest.raises(KeyProviderError, match="kek-elsewhere is not in the key file"):
        provider.unwrap("kek-elsewhere", wrapped, CONTEXT)


def test_a_key_wrapped_in_another_key_file_does_not_unwrap(tmp_path: Path) -> None:
    first = FileKeyProvider.create(tmp_path / "a.json")
    other_bytes = key_file_body(
        active=first.active_kek_id,
        keys={first.active_kek_id: base64.b64encode(os.urandom(32)).decode()},
    )
    impostor = FileKeyProvider(write_key_file(tmp_path / "b.json", other_bytes))
    kek_id, wrapped = first.wrap(KEY, CONTEXT)
    with pytest.raises(KeyProviderError, match="does not open"):
        impostor.unwrap(kek_id, wrapped, CONTEXT)


def test_a_wrap_names_its_kek_even_when_two_keks_share_the_same_bytes(key_path: Path) -> None:
    same = base64.b64encode(os.urandom(32)).decode()
    twins = key_file_body(active="kek-a", keys={"kek-a": same, "kek-b": same})
    provider = FileKeyProvider(write_key_file(key_path, twins))
    kek_id, wrapped = provider.wrap(KEY, CONTEXT)
    assert kek_id == "kek-a"
    with pytest.raises(KeyProviderError, match="does not open"):
        provider.unwrap("kek-b", wrapped, CONTEXT)


# new KEKs ------------------------------------------------------------------


def test_a_new_kek_becomes_active_and_older_wraps_still_unwrap(
    key_path: Path, provider: FileKeyProvider
) -> None:
    old_id, old_wrapped = provider.wrap(KEY, CONTEXT)
    new_id = provider.new_kek()
    assert new_id != old_id
    assert provider.active_kek_id == new_id
    assert provider.kek_ids() == [old_id, new_id]
    assert provider.unwrap(old_id, old_wrapped, CONTEXT) == KEY
    kek_id, wrapped = provider.wrap(KEY, CONTEXT)
    assert kek_id == new_id
    reopened = FileKeyProvider(key_path)
    assert reopened.active_kek_id == new_id
    assert reopened.kek_ids() == [old_id, new_id]
    assert reopened.unwrap(old_id, old_wrapped, CONTEXT) == KEY
    assert reopened.unwrap(new_id, wrapped, CONTEXT) == KEY


def test_a_wrap_is_bound_to_its_kek_id(provider: FileKeyProvider) -> None:
    old_id, wrapped = provider.wrap(KEY, CONTEXT)
    new_id = provider.new_kek()
    with pytest.raises(KeyProviderError, match="does not open"):
        provider.unwrap(new_id, wrapped, CONTEXT)
    assert provider.unwrap(old_id, wrapped, CONTEXT) == KEY


def test_a_new_kek_replaces_the_key_file_atomically_and_keeps_it_owner_only(
    key_path: Path, provider: FileKeyProvider
) -> None:
    with key_path.open("rb") as previous:
        before = previous.read()
        provider.new_kek()
        provider.new_kek()
        # Renamed over, never rewritten in place: a reader of the old file sees it whole.
        previous.seek(0)
        assert previous.read() == before
        assert os.fstat(previous.fileno()).st_ino != key_path.stat().st_ino
    assert mode(key_path) == 0o600
    assert sorted(p.name for p in key_path.parent.iterdir()) == ["kek.json"]
    assert len(FileKeyProvider(key_path).kek_ids()) == 3


def test_an_interrupted_new_kek_leaves_the_key_file_and_the_provider_as_they_were(
    key_path: Path, provider: FileKeyProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = key_path.read_bytes()
    kek_id, wrapped = provider.wrap(KEY, CONTEXT)

    def power_cut(_src: object, _dst: object) -> None:
        raise OSError("power cut")

    monkeypatch.setattr(providers.os, "replace", power_cut)
    with pytest.raises(OSError, match="power cut"):
        provider.new_kek()
    monkeypatch.undo()
    assert key_path.read_bytes() == before
    assert provider.active_kek_id == kek_id
    assert provider.kek_ids() == [kek_id]
    assert FileKeyProvider(key_path).unwrap(kek_id, wrapped, CONTEXT) == KEY
    # The next attempt overwrites the leftover temporary file and succeeds.
    new_id = provider.new_kek()
    assert FileKeyProvider(key_path).active_kek_id == new_id
    assert mode(key_path) == 0o600


def test_a_new_kek_stays_owner_only_despite_a_leftover_temporary_file(
    key_path: Path, provider: FileKeyProvider
) -> None:
    leftover = key_path.with_suffix(".tmp")
    leftover.write_text("left over by a copy")
    leftover.chmod(0o644)
    provider.new_kek()
    assert mode(key_path) == 0o600


def test_a_kek_added_by_another_instance_is_not_lost(
    key_path: Path, provider: FileKeyProvider
) -> None:
    other = FileKeyProvider(key_path)
    first_id = provider.new_kek()
    kek_id, wrapped = provider.wrap(KEY, CONTEXT)
    assert kek_id == first_id
    second_id = other.new_kek()
    assert FileKeyProvider(key_path).unwrap(kek_id, wrapped, CONTEXT) == KEY
    assert other.unwrap(kek_id, wrapped, CONTEXT) == KEY
    assert FileKeyProvider(key_path).kek_ids() == other.kek_ids()
    assert FileKeyProvider(key_path).active_kek_id == second_id


def test_keks_added_concurrently_by_several_instances_are_all_kept(
    key_path: Path, provider: FileKeyProvider
) -> None:
    instances = [FileKeyProvider(key_path) for _ in range(3)]
    made: list[str] = []

    def add_keks(instance: FileKeyProvider) -> None:
        made.extend(instance.new_kek() for _ in range(3))

    threads = [threading.Thread(target=add_keks, args=(i,)) for i in instances]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    on_disk = FileKeyProvider(key_path).kek_ids()
    assert len(made) == len(set(made)) == 9
    assert set(on_disk) == {provider.active_kek_id, *made}


def test_a_key_file_path_under_a_regular_file_gives_a_key_file_error(tmp_path: Path) -> None:
    (tmp_path / "keys").write_text("a file, not a directory")
    with pytest.raises(KeyFileError, match="cannot be read"):
        FileKeyProvider(tmp_path / "keys" / "kek.json")


def test_a_key_file_that_vanishes_is_reported_not_crashed_on(
    key_path: Path, provider: FileKeyProvider
) -> None:
    key_path.unlink()
    with pytest.raises(KeyFileError, match="does not exist"):
        provider.wrap(KEY, CONTEXT)


def test_a_temporary_path_that_cannot_be_written_is_a_key_file_error(
    key_path: Path, provider: FileKeyProvider
) -> None:
    key_path.with_name(key_path.name + ".tmp").mkdir()
    (key_path.with_name(key_path.name + ".tmp") / "x").write_text("in the way")
    with pytest.raises(KeyFileError, match="Cannot write"):
        provider.new_kek()


def test_a_rotation_by_another_process_is_seen_without_a_restart(
    key_path: Path, provider: FileKeyProvider
) -> None:
    newer = FileKeyProvider(key_path).new_kek()
    kek_id, wrapped = FileKeyProvider(key_path).wrap(KEY, CONTEXT)
    assert provider.unwrap(kek_id, wrapped, CONTEXT) == KEY
    assert provider.wrap(KEY, CONTEXT)[0] == newer
