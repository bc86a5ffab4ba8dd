"""Sealer: sealed fields and STREAM-sealed documents refuse every alteration, move and key."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coffre.crypto import sealed
from coffre.crypto.errors import DecryptionFailed
from coffre.crypto.sealed import FIELD_VERSION, STREAM_VERSION, Sealer, field_aad

examples = settings(max_examples=50, deadline=None, database=None)

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
SEALER = Sealer(KEY)
CONTEXT = ("org-1", "patients", "family_name", "row-1", 1)
AAD = field_aad(*CONTEXT)
DOCUMENT_AAD = b"document:org-1:doc-1"
OTHER_DOCUMENT_AAD = b"document:org-1:doc-2"

plaintexts = st.binary(max_size=1024)
chunk_lists = st.lists(st.binary(max_size=64), max_size=8)
long_chunk_lists = st.lists(st.binary(max_size=64), min_size=2, max_size=8)


def seal_chunks(chunks: list[bytes], aad: bytes = DOCUMENT_AAD) -> list[bytes]:
    return list(SEALER.seal_stream(chunks, aad))


def open_chunks(sealed_chunks: list[bytes], aad: bytes = DOCUMENT_AAD) -> list[bytes]:
    return list(SEALER.open_stream(sealed_chunks, aad))


def flip(blob: bytes, index: int, bit: int) -> bytes:
    changed = bytearray(blob)
    changed[index] ^= 1 << bit
    return bytes(changed)


# keys ---------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 16, 24, 31, 33, 64])
def test_a_data_key_that_is_not_32_bytes_is_refused(size: int) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        Sealer(bytes(size))


# fields -------------------------------------------------------------------


@examples
@given(plaintext=plaintexts, aad=st.binary(max_size=256))
def test_a_sealed_field_opens_to_its_plaintext(plaintext: bytes, aad: bytes) -> None:
    assert SEALER.open(SEALER.seal(plaintext, aad), aad) == plaintext


@examples
@given(plaintext=plaintexts)
def test_a_sealed_field_is_version_nonce_ciphertext_and_tag(plaintext: bytes) -> None:
    blob = SEALER.seal(plaintext, AAD)
    assert blob[:1] == FIELD_VERSION
    assert len(blob) == 1 + 12 + len(plaintext) + 16
    if len(plaintext) >= 8:
        assert plaintext not in blob


def test_sealing_the_same_field_twice_gives_different_ciphertexts() -> None:
    first, second = SEALER.seal(b"Hypertension", AAD), SEALER.seal(b"Hypertension", AAD)
    assert first != second
    assert first[1:13] != second[1:13]
    assert SEALER.open(first, AAD) == SEALER.open(second, AAD) == b"Hypertension"


@examples
@given(plaintext=plaintexts, data=st.data())
def test_flipping_any_bit_of_a_sealed_field_fails(plaintext: bytes, data: st.DataObject) -> None:
    blob = SEALER.seal(plaintext, AAD)
    index = data.draw(st.integers(0, len(blob) - 1), label="index")
    bit = data.draw(st.integers(0, 7), label="bit")
    with pytest.raises(DecryptionFailed):
        SEALER.open(flip(blob, index, bit), AAD)


@examples
@given(plaintext=plaintexts, data=st.data())
def test_truncating_a_sealed_field_at_any_length_fails(
    plaintext: bytes, data: st.DataObject
) -> None:
    blob = SEALER.seal(plaintext, AAD)
    length = data.draw(st.integers(0, len(blob) - 1), label="length")
    with pytest.raises(DecryptionFailed):
        SEALER.open(blob[:length], AAD)


@examples
@given(plaintext=plaintexts, extra=st.binary(min_size=1, max_size=32))
def test_appending_bytes_to_a_sealed_field_fails(plaintext: bytes, extra: bytes) -> None:
    with pytest.raises(DecryptionFailed):
        SEALER.open(SEALER.seal(plaintext, AAD) + extra, AAD)


@pytest.mark.parametrize(
    "moved",
    [
        ("org-2", "patients", "family_name", "row-1", 1),
        ("org-1", "documents", "family_name", "row-1", 1),
        ("org-1", "patients", "given_name", "row-1", 1),
        ("org-1", "patients", "family_name", "row-2", 1),
        ("org-1", "patients", "family_name", "row-1", 2),
    ],
    ids=["organisation", "table", "column", "row", "key-version"],
)
def test_a_field_moved_to_another_context_fails(moved: tuple[str, str, str, str, int]) -> None:
    blob = SEALER.seal(b"1985-05-12", AAD)
    with pytest.raises(DecryptionFailed, match="altered, moved or sealed under another key"):
        SEALER.open(blob, field_aad(*moved))


def test_a_field_opened_with_another_key_fails() -> None:
    blob = SEALER.seal(b"allergie: penicilline", AAD)
    with pytest.raises(DecryptionFailed):
        Sealer(OTHER_KEY).open(blob, AAD)


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        FIELD_VERSION,
        FIELD_VERSION + bytes(27),
        b"\x00" + bytes(40),
        STREAM_VERSION + bytes(40),
        b"\xff" * 64,
    ],
    ids=["empty", "version-only", "one-byte-short", "version-0", "stream-version", "garbage"],
)
def test_a_malformed_field_fails(blob: bytes) -> None:
    with pytest.raises(DecryptionFailed):
        SEALER.open(blob, AAD)


def test_a_field_with_an_unknown_version_byte_is_refused_as_malformed() -> None:
    blob = SEALER.seal(b"x", AAD)
    with pytest.raises(DecryptionFailed, match="malformed"):
        SEALER.open(b"\x03" + blob[1:], AAD)


def test_a_sealed_field_is_not_a_sealed_document() -> None:
    blob = SEALER.seal(b"field", DOCUMENT_AAD)
    with pytest.raises(DecryptionFailed):
        open_chunks([blob])
    with pytest.raises(DecryptionFailed):
        open_chunks([STREAM_VERSION + blob[1:]])
    (single,) = seal_chunks([b"field"])
    with pytest.raises(DecryptionFailed):
        SEALER.open(single, DOCUMENT_AAD)
    with pytest.raises(DecryptionFailed):
        SEALER.open(FIELD_VERSION + single[1:], DOCUMENT_AAD)


# associated data -----------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("ab", "c", "d", "e", 1), ("a", "bc", "d", "e", 1)),
        (("a", "bc", "d", "e", 1), ("a", "b", "cd", "e", 1)),
        (("a", "b", "cd", "e", 1), ("a", "b", "c", "de", 1)),
        (("a", "b", "c", "d1", 1), ("a", "b", "c", "d", 11)),
        (("", "ab", "c", "d", 1), ("ab", "", "c", "d", 1)),
        (("a\x00", "b", "c", "d", 1), ("a", "\x00b", "c", "d", 1)),
    ],
)
def test_field_aad_keeps_neighbouring_parts_apart(
    first: tuple[str, str, str, str, int], second: tuple[str, str, str, str, int]
) -> None:
    assert field_aad(*first) != field_aad(*second)


contexts = st.tuples(
    st.text(max_size=8),
    st.text(max_size=8),
    st.text(max_size=8),
    st.text(max_size=8),
    st.integers(-5, 10**6),
)


@examples
@given(first=contexts, second=contexts)
def test_field_aad_is_injective(
    first: tuple[str, str, str, str, int], second: tuple[str, str, str, str, int]
) -> None:
    assert (field_aad(*first) == field_aad(*second)) == (first == second)


@examples
@given(context=contexts)
def test_field_aad_is_each_part_behind_its_two_byte_big_endian_length(
    context: tuple[str, str, str, str, int],
) -> None:
    organisation, table, column, row_id, version = context
    parts = [b"coffre-field/1", *(t.encode() for t in context[:4]), str(version).encode()]
    expected = b"".join(len(part).to_bytes(2, "big") + part for part in parts)
    assert field_aad(organisation, table, column, row_id, version) == expected


def test_field_aad_refuses_a_part_over_65535_bytes() -> None:
    field_aad("o", "t", "c", "r" * 0xFFFF, 1)  # the most a part may be
    with pytest.raises(ValueError, match="65,535"):
        field_aad("o", "t", "c", "r" * 0x10000, 1)


def test_field_aad_is_length_prefixed_and_tagged() -> None:
    assert field_aad("o", "t", "c", "r", 7) == (
        b"\x00\x0ecoffre-field/1\x00\x01o\x00\x01t\x00\x01c\x00\x01r\x00\x017"
    )
    assert field_aad("é", "t", "c", "r", 1).startswith(b"\x00\x0ecoffre-field/1\x00\x02\xc3\xa9")


# streams ------------------------------------------------------------------


@examples
@given(chunks=chunk_lists, aad=st.binary(max_size=64))
def test_a_sealed_stream_opens_to_its_chunks_whatever_the_chunking(
    chunks: list[bytes], aad: bytes
) -> None:
    sealed_chunks = seal_chunks(chunks, aad)
    expected = chunks or [b""]
    assert len(sealed_chunks) == len(expected)
    assert open_chunks(sealed_chunks, aad) == expected


def test_an_empty_stream_seals_to_one_empty_last_chunk() -> None:
    (only,) = seal_chunks([])
    assert only[:1] == STREAM_VERSION
    assert len(only) == 1 + 7 + 16
    assert open_chunks([only]) == [b""]


@examples
@given(chunks=long_chunk_lists)
def test_a_sealed_stream_carries_its_header_on_the_first_chunk_only(chunks: list[bytes]) -> None:
    sealed_chunks = seal_chunks(chunks)
    assert sealed_chunks[0][:1] == STREAM_VERSION
    assert len(sealed_chunks[0]) == 1 + 7 + len(chunks[0]) + 16
    assert [len(c) for c in sealed_chunks[1:]] == [len(c) + 16 for c in chunks[1:]]


def test_sealing_the_same_stream_twice_uses_another_nonce_prefix() -> None:
    first, second = seal_chunks([b"a", b"b"]), seal_chunks([b"a", b"b"])
    assert first[0][1:8] != second[0][1:8]
    assert first[1] != second[1]


def test_a_stream_is_sealed_and_opened_chunk_by_chunk() -> None:
    pulled: list[int] = []

    def source() -> Iterator[bytes]:
        for n in range(5):
            pulled.append(n)
            yield bytes([n]) * 10

    sealing = SEALER.seal_stream(source(), DOCUMENT_AAD)
    first = next(sealing)
    assert pulled == [0, 1]  # one chunk of look-ahead to know whether it is the last
    rest = list(sealing)
    opening = SEALER.open_stream(iter([first, *rest]), DOCUMENT_AAD)
    assert next(opening) == bytes([0]) * 10
    assert list(opening) == [bytes([n]) * 10 for n in range(1, 5)]


@examples
@given(chunks=long_chunk_lists, data=st.data())
def test_dropping_any_chunk_of_a_stream_fails(chunks: list[bytes], data: st.DataObject) -> None:
    sealed_chunks = seal_chunks(chunks)
    index = data.draw(st.integers(0, len(sealed_chunks) - 1), label="dropped")
    del sealed_chunks[index]
    with pytest.raises(DecryptionFailed):
        open_chunks(sealed_chunks)


@examples
@given(chunks=long_chunk_lists, data=st.data())
def test_swapping_two_chunks_of_a_stream_fails(chunks: list[bytes], data: st.DataObject) -> None:
    sealed_chunks = seal_chunks(chunks)
    i = data.draw(st.integers(0, len(sealed_chunks) - 2), label="i")
    j = data.draw(st.integers(i + 1, len(sealed_chunks) - 1), label="j")
    sealed_chunks[i], sealed_chunks[j] = sealed_chunks[j], sealed_chunks[i]
    with pytest.raises(DecryptionFailed):
        open_chunks(sealed_chunks)


@examples
@given(chunks=chunk_lists, data=st.data())
def test_duplicating_any_chunk_of_a_stream_fails(chunks: list[bytes], data: st.DataObject) -> None:
    sealed_chunks = seal_chunks(chunks)
    index = data.draw(st.integers(0, len(sealed_chunks) - 1), label="duplicated")
    sealed_chunks.insert(index + 1, sealed_chunks[index])
    with pytest.raises(DecryptionFailed):
        open_chunks(sealed_chunks)


@examples
@given(chunks=long_chunk_lists)
def test_a_stream_without_its_last_chunk_is_reported_truncated(chunks: list[bytes]) -> None:
    sealed_chunks = seal_chunks(chunks)
    with pytest.raises(DecryptionFailed, match="truncated"):
        open_chunks(sealed_chunks[:-1])


@examples
@given(chunks=chunk_lists, data=st.data())
def test_cutting_bytes_off_the_last_chunk_fails(chunks: list[bytes], data: st.DataObject) -> None:
    sealed_chunks = seal_chunks(chunks)
    last = sealed_chunks[-1]
    length = data.draw(st.integers(0, len(last) - 1), label="length")
    sealed_chunks[-1] = last[:length]
    with pytest.raises(DecryptionFailed):
        open_chunks(sealed_chunks)


@examples
@given(chunks=chunk_lists, extra=st.binary(max_size=64))
def test_appending_a_chunk_after_the_last_one_fails(chunks: list[bytes], extra: bytes) -> None:
    sealed_chunks = seal_chunks(chunks)
    with pytest.raises(DecryptionFailed, match="after its last one"):
        open_chunks([*sealed_chunks, extra])


def test_appending_the_next_chunk_of_a_longer_stream_fails() -> None:
    short = seal_chunks([b"page 1"])
    longer = seal_chunks([b"page 1", b"page 2"])
    with pytest.raises(DecryptionFailed):
        open_chunks([*short, longer[1]])
    with pytest.raises(DecryptionFailed):
        open_chunks([longer[0], seal_chunks([b"x", b"page 2"])[1]])


@examples
@given(chunks=long_chunk_lists, data=st.data())
def test_splicing_a_chunk_from_another_stream_fails(
    chunks: list[bytes], data: st.DataObject
) -> None:
    first, second = seal_chunks(chunks), seal_chunks(chunks)
    index = data.draw(st.integers(1, len(first) - 1), label="spliced")
    first[index] = second[index]
    with pytest.raises(DecryptionFailed):
        open_chunks(first)


@examples
@given(chunks=chunk_lists)
def test_a_stream_moved_to_another_document_fails(chunks: list[bytes]) -> None:
    sealed_chunks = seal_chunks(chunks, DOCUMENT_AAD)
    with pytest.raises(DecryptionFailed, match="altered, moved or reordered"):
        open_chunks(sealed_chunks, OTHER_DOCUMENT_AAD)


def test_a_stream_opened_with_another_key_fails() -> None:
    sealed_chunks = seal_chunks([b"scan", b"ner"])
    with pytest.raises(DecryptionFailed):
        list(Sealer(OTHER_KEY).open_stream(sealed_chunks, DOCUMENT_AAD))


@examples
@given(chunks=chunk_lists, data=st.data())
def test_flipping_any_bit_of_a_sealed_stream_fails(
    chunks: list[bytes], data: st.DataObject
) -> None:
    sealed_chunks = seal_chunks(chunks)
    which = data.draw(st.integers(0, len(sealed_chunks) - 1), label="chunk")
    index = data.draw(st.integers(0, len(sealed_chunks[which]) - 1), label="index")
    bit = data.draw(st.integers(0, 7), label="bit")
    sealed_chunks[which] = flip(sealed_chunks[which], index, bit)
    with pytest.raises(DecryptionFailed):
        open_chunks(sealed_chunks)


def test_an_empty_sequence_of_sealed_chunks_is_truncated() -> None:
    with pytest.raises(DecryptionFailed, match="truncated"):
        open_chunks([])


@pytest.mark.parametrize(
    "first",
    [b"", STREAM_VERSION, STREAM_VERSION + bytes(22), FIELD_VERSION + bytes(40), b"\x00" * 64],
    ids=["empty", "version-only", "one-byte-short", "field-version", "garbage"],
)
def test_a_malformed_first_chunk_is_refused(first: bytes) -> None:
    with pytest.raises(DecryptionFailed, match="malformed"):
        open_chunks([first])


def test_a_stream_with_too_many_chunks_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sealed, "_MAX_CHUNKS", 2)
    assert open_chunks(seal_chunks([b"a", b"b"])) == [b"a", b"b"]
    with pytest.raises(ValueError, match="too many chunks"):
        seal_chunks([b"a", b"b", b"c"])


def test_an_associated_data_part_over_64_kib_is_refused() -> None:
    with pytest.raises(ValueError, match="65,535"):
        field_aad("org", "patients", "identity", "x" * 70_000, 1)
