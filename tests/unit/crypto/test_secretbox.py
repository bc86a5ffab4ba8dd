"""SecretBox: system secrets sealed under the system-secrets key, bound to their owner."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coffre.crypto import SecretBox
from coffre.crypto.errors import DecryptionFailed

examples = settings(max_examples=50, deadline=None, database=None)

BOX = SecretBox(bytes(range(32)))
CONTEXT = "totp:account-1"


@examples
@given(secret=st.binary(max_size=256), context=st.text(max_size=40))
def test_a_sealed_secret_opens_under_its_context(secret: bytes, context: str) -> None:
    sealed = BOX.seal(secret, context)
    assert sealed[:1] == b"\x01"
    assert len(sealed) == 1 + 12 + len(secret) + 16
    assert BOX.open(sealed, context) == secret


def test_sealing_twice_gives_different_bytes() -> None:
    assert BOX.seal(b"seed", CONTEXT) != BOX.seal(b"seed", CONTEXT)


@pytest.mark.parametrize("other", ["totp:account-2", "totp:account-1 ", "", "recovery:account-1"])
def test_a_secret_moved_to_another_owner_does_not_open(other: str) -> None:
    with pytest.raises(DecryptionFailed, match="does not open here"):
        BOX.open(BOX.seal(b"JBSWY3DPEHPK3PXP", CONTEXT), other)


def test_a_secret_does_not_open_under_another_key() -> None:
    with pytest.raises(DecryptionFailed):
        SecretBox(bytes(32)).open(BOX.seal(b"seed", CONTEXT), CONTEXT)


@examples
@given(data=st.data())
def test_flipping_any_bit_of_a_sealed_secret_fails(data: st.DataObject) -> None:
    sealed = bytearray(BOX.seal(b"JBSWY3DPEHPK3PXP", CONTEXT))
    sealed[data.draw(st.integers(0, len(sealed) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(DecryptionFailed):
        BOX.open(bytes(sealed), CONTEXT)


@pytest.mark.parametrize("sealed", [b"", b"\x01", b"\x01" + bytes(27), b"\x02" + bytes(40)])
def test_a_malformed_sealed_secret_is_refused(sealed: bytes) -> None:
    with pytest.raises(DecryptionFailed, match="malformed"):
        BOX.open(sealed, CONTEXT)


def test_a_sealed_secret_cut_short_does_not_open() -> None:
    sealed = BOX.seal(b"JBSWY3DPEHPK3PXP", CONTEXT)
    with pytest.raises(DecryptionFailed):
        BOX.open(sealed[:-1], CONTEXT)
