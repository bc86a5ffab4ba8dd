"""Pkcs11KeyProvider against a real, brand-new SoftHSM2 token per test."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pkcs11
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pkcs11 import Attribute, ObjectClass

from coffre.crypto.errors import KeyProviderError
from coffre.crypto.pkcs11 import Pkcs11KeyProvider
from conftest import SOFTHSM_LABEL as LABEL
from conftest import SOFTHSM_PIN as PIN

# Function-scoped fixtures are shared by all examples on purpose: one token per test is enough.
examples = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def token(softhsm_token: str) -> str:
    return softhsm_token


@pytest.fixture
def provider(token: str) -> Iterator[Pkcs11KeyProvider]:
    created = Pkcs11KeyProvider.create(token, LABEL, PIN)
    yield created
    created.close()


@examples
@given(key=st.binary(min_size=32, max_size=32), context=st.binary(max_size=200))
def test_wrap_then_unwrap_returns_the_key(
    provider: Pkcs11KeyProvider, key: bytes, context: bytes
) -> None:
    kek_id, wrapped = provider.wrap(key, context)
    assert kek_id == provider.active_kek_id
    assert wrapped[:1] == b"\x01" and len(wrapped) == 1 + 12 + 32 + 16
    assert provider.unwrap(kek_id, wrapped, context) == key


def test_unwrap_under_another_context_fails(provider: Pkcs11KeyProvider) -> None:
    kek_id, wrapped = provider.wrap(b"k" * 32, b"subject-1")
    with pytest.raises(KeyProviderError, match="does not open"):
        provider.unwrap(kek_id, wrapped, b"subject-2")


@examples
@given(data=st.data())
def test_flipping_any_byte_of_the_wrapped_key_fails(
    provider: Pkcs11KeyProvider, data: st.DataObject
) -> None:
    kek_id, wrapped = provider.wrap(b"k" * 32, b"ctx")
    index = data.draw(st.integers(0, len(wrapped) - 1), label="index")
    flip = data.draw(st.integers(1, 255), label="xor")
    tampered = bytearray(wrapped)
    tampered[index] ^= flip
    with pytest.raises(KeyProviderError):
        provider.unwrap(kek_id, bytes(tampered), b"ctx")


def test_unknown_kek_id_fails(provider: Pkcs11KeyProvider) -> None:
    _, wrapped = provider.wrap(b"k" * 32, b"ctx")
    with pytest.raises(KeyProviderError, match="not on PKCS#11 token"):
        provider.unwrap("kek-19700101T000000-00000000", wrapped, b"ctx")


@pytest.mark.parametrize("keep", [0, 1, 13, 28, 29, 60])
def test_truncated_wrapped_key_fails(provider: Pkcs11KeyProvider, keep: int) -> None:
    kek_id, wrapped = provider.wrap(b"k" * 32, b"ctx")
    with pytest.raises(KeyProviderError):
        provider.unwrap(kek_id, wrapped[:keep], b"ctx")


def test_new_kek_becomes_active_and_old_wraps_still_open(provider: Pkcs11KeyProvider) -> None:
    old_id, old_wrapped = provider.wrap(b"a" * 32, b"ctx")
    new_id = provider.new_kek()
    assert new_id != old_id
    assert provider.active_kek_id == new_id
    assert provider.kek_ids() == sorted([old_id, new_id])
    assert provider.unwrap(old_id, old_wrapped, b"ctx") == b"a" * 32
    kek_id, wrapped = provider.wrap(b"b" * 32, b"ctx")
    assert kek_id == new_id
    assert provider.unwrap(kek_id, wrapped, b"ctx") == b"b" * 32


def test_a_later_provider_opens_what_an_earlier_one_wrapped(token: str) -> None:
    first = Pkcs11KeyProvider.create(token, LABEL, PIN)
    first.new_kek()
    kek_id, wrapped = first.wrap(b"p" * 32, b"ctx")
    active = first.active_kek_id
    first.close()
    # C_Finalize + C_Initialize: SoftHSM2 forgets everything and reloads the token from disk.
    pkcs11.lib(token).reinitialize()
    second = Pkcs11KeyProvider(token, LABEL, PIN)
    try:
        assert second.active_kek_id == active
        assert len(second.kek_ids()) == 2
        assert second.unwrap(kek_id, wrapped, b"ctx") == b"p" * 32
    finally:
        second.close()


def test_two_providers_share_the_token_and_closing_one_keeps_the_other(
    provider: Pkcs11KeyProvider, token: str
) -> None:
    other = Pkcs11KeyProvider(token, LABEL, PIN)
    kek_id, wrapped = other.wrap(b"s" * 32, b"ctx")
    assert provider.unwrap(kek_id, wrapped, b"ctx") == b"s" * 32
    rotated = provider.new_kek()
    assert other.active_kek_id == rotated
    other.close()
    # python-pkcs11's Session.close() logs out the whole process: it must not happen here.
    assert provider.unwrap(kek_id, wrapped, b"ctx") == b"s" * 32


def test_concurrent_wraps_and_unwraps_from_threads(provider: Pkcs11KeyProvider) -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(20):
                key, ctx = bytes([n, i]) * 16, f"{n}/{i}".encode()
                kek_id, wrapped = provider.wrap(key, ctx)
                assert provider.unwrap(kek_id, wrapped, ctx) == key
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_kek_on_the_token_is_sensitive_and_not_extractable(token: str) -> None:
    created = Pkcs11KeyProvider.create(token, LABEL, PIN)
    newest = created.new_kek()
    ids = created.kek_ids()
    created.close()
    session = pkcs11.lib(token).get_token(token_label=LABEL).open(user_pin=PIN)
    try:
        keys = list(session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY}))
        assert sorted(k[Attribute.LABEL] for k in keys) == [f"coffre-{i}" for i in ids]
        for key in keys:
            assert key[Attribute.TOKEN] is True
            assert key[Attribute.SENSITIVE] is True and key[Attribute.ALWAYS_SENSITIVE] is True
            assert key[Attribute.EXTRACTABLE] is False
            assert key[Attribute.NEVER_EXTRACTABLE] is True
            assert key[Attribute.WRAP] is False and key[Attribute.SIGN] is False
            assert key[Attribute.VALUE_LEN] == 32
            with pytest.raises(pkcs11.exceptions.AttributeSensitive):
                key[Attribute.VALUE]
        records = list(session.get_objects({Attribute.LABEL: "coffre-active-kek"}))
        assert [r[Attribute.VALUE] for r in records] == [f"2 {newest}".encode()]
    finally:
        session.close()


@pytest.mark.parametrize("while_logged_in", [False, True])
def test_wrong_pin_is_refused_without_echoing_it(token: str, while_logged_in: bool) -> None:
    Pkcs11KeyProvider.create(token, LABEL, PIN).close()
    holder = Pkcs11KeyProvider(token, LABEL, PIN) if while_logged_in else None
    try:
        with pytest.raises(KeyProviderError, match=r"PIN .* is incorrect") as caught:
            Pkcs11KeyProvider(token, LABEL, "98765")
        assert "98765" not in str(caught.value)
    finally:
        if holder is not None:
            holder.close()


def test_unknown_token_label_is_refused(token: str) -> None:
    with pytest.raises(KeyProviderError, match="There is no PKCS#11 token 'nope'") as caught:
        Pkcs11KeyProvider(token, "nope", PIN)
    assert PIN not in str(caught.value)


def test_missing_library_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyProviderError, match="does not exist"):
        Pkcs11KeyProvider(str(tmp_path / "nothing.so"), LABEL, PIN)


def test_plain_init_refuses_an_empty_token_and_create_fills_it(token: str) -> None:
    with pytest.raises(KeyProviderError, match="no Coffre key-encryption key; run 'coffre init'"):
        Pkcs11KeyProvider(token, LABEL, PIN)
    created = Pkcs11KeyProvider.create(token, LABEL, PIN)
    try:
        assert created.kek_ids() == [created.active_kek_id]
        assert created.active_kek_id.startswith("kek-")
    finally:
        created.close()


def test_create_refuses_a_token_that_already_has_a_kek(
    provider: Pkcs11KeyProvider, token: str
) -> None:
    with pytest.raises(KeyProviderError, match="already has"):
        Pkcs11KeyProvider.create(token, LABEL, PIN)
    assert len(provider.kek_ids()) == 1


def test_a_closed_provider_refuses_to_work(token: str) -> None:
    created = Pkcs11KeyProvider.create(token, LABEL, PIN)
    created.close()
    created.close()  # idempotent
    with pytest.raises(KeyProviderError, match="closed"):
        created.wrap(b"k" * 32, b"ctx")
