"""Signed notes and checkpoints against the C2SP signed-note spec and Go's sumdb/note."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coffre.journal import CheckpointInvalid, Signer, Verifier

# Known answers from the C2SP signed-note specification (its "Example" section) and from the
# package documentation of golang.org/x/mod/sumdb/note (PeterNeumann).
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n\n"
    "\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3m"
    "FXmRKuwHjG1Yu72IneyaQM=\n"
)
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSN"
    "XgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def _go_signer() -> Signer:
    seed = base64.b64decode(GO_SKEY.split("+", 4)[4])[1:]  # PRIVATE+KEY+name+hash+key
    return Signer(seed, "PeterNeumann")


def test_the_spec_example_verifies():
    assert Verifier.from_vkey(SPEC_VKEY).verify_note(SPEC_NOTE) == "This is an example message.\n"


def test_the_go_example_verifies_and_signing_reproduces_it_byte_for_byte():
    assert Verifier.from_vkey(GO_VKEY).verify_note(GO_NOTE) == GO_TEXT
    signer = _go_signer()
    assert signer.vkey == GO_VKEY
    assert signer.sign_text(GO_TEXT) == GO_NOTE  # Ed25519 signatures are deterministic


@pytest.mark.parametrize(
    "mangle",
    [
        lambda n: n.replace("cryptography", "cryptograph"),
        lambda n: n.replace("x08go", "x08gp"),
        lambda n: n.replace("\u2014 ", "- "),
        lambda n: n.replace("\n\n", "\n"),
        lambda n: n[:-1],
        lambda n: n.replace("PeterNeumann x08go", "PeterNeuman x08go"),
    ],
)
def test_a_mangled_note_is_refused(mangle):
    with pytest.raises(CheckpointInvalid):
        Verifier.from_vkey(GO_VKEY).verify_note(mangle(GO_NOTE))


def test_a_witness_signature_beside_ours_is_tolerated():
    signer, witness = Signer(b"\x01" * 32, "log.example/a"), Signer(b"\x02" * 32, "witness.example")
    note = signer.sign(5, b"\x03" * 32).note
    cosigned = note + witness.sign_text(signer.sign(5, b"\x03" * 32).text).split("\n\n")[1]
    assert signer.verifier.open(cosigned).size == 5


@pytest.mark.parametrize(
    "vkey",
    [
        GO_VKEY.replace("c74f20a3", "c74f20a4"),
        GO_VKEY + "=",
        "PeterNeumann+c74f20a3",
        "a+b+c+d",
        GO_VKEY.replace("+ARpc", "+Ahpc"),
    ],
)
def test_a_malformed_verifier_key_is_refused(vkey):
    with pytest.raises(CheckpointInvalid):
        Verifier.from_vkey(vkey)


@settings(max_examples=30, deadline=None)
@given(size=st.integers(min_value=0, max_value=2**62), root=st.binary(min_size=32, max_size=32))
def test_a_checkpoint_round_trips_and_any_change_is_caught(size, root):
    signer = Signer(b"\x05" * 32, "coffre.journal/test")
    checkpoint = signer.sign(size, root)
    lines = checkpoint.note.split("\n")
    assert lines[:3] == ["coffre.journal/test", str(size), base64.b64encode(root).decode()]
    opened = Verifier.from_vkey(signer.vkey).open(checkpoint.note)
    assert (opened.size, opened.root) == (size, root)
    forged = checkpoint.note.replace(f"\n{size}\n", f"\n{size + 1}\n", 1)
    with pytest.raises(CheckpointInvalid):
        signer.verifier.open(forged)


def test_a_verifier_key_whose_base64_holds_a_plus_is_read():
    # From transparency-dev/formats note tests: the base64 of this key contains a '+'.
    assert (
        Verifier.from_vkey("TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6").name
        == "TEST"
    )


def test_a_note_from_another_log_is_refused():
    ours, theirs = Signer(b"\x01" * 32, "log.example/ours"), Signer(b"\x01" * 32, "log.example/x")
    with pytest.raises(CheckpointInvalid, match="not signed by"):
        ours.verifier.open(theirs.sign(3, b"\x00" * 32).note)
