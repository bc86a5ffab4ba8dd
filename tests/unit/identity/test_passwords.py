"""The password rules of NIST SP 800-63B and the argon2id hashes."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from hypothesis import given, settings
from hypothesis import strategies as st

from coffre.identity import passwords
from coffre.identity.passwords import WeakPassword, check_new_password, verify_password


@pytest.mark.parametrize(
    ("password", "patient", "why"),
    [
        ("short pass", False, "at least 12"),
        ("short", True, "at least 8"),
        ("x" * 129 + "yz", False, "at most 128"),
        ("password1234", False, "most common"),
        ("iloveyou2", True, "most common"),
        ("Qwertyuiop123", False, "most common"),
        ("abcdefgh12345", False, "easy to guess"),
        ("monkey123monkey", False, "easy to guess"),
        ("aaaaaaaaaaaaaaaa", False, "easy to guess"),
        ("annemartin-2026!", False, "name"),
        ("my.anne.martin.pw", False, "name"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(password, patient, why):
    with pytest.raises(WeakPassword, match=why):
        check_new_password(
            password, patient=patient, context=["dr.martin", "Anne Martin", "anne@example.org"]
        )


@pytest.mark.parametrize(
    ("password", "patient"),
    [("violet kettle orbit 1968", False), ("maple-drum-7", True), ("ﬁnch lantern ochre", False)],
)
def test_long_unrelated_words_are_accepted(password, patient):
    check_new_password(password, patient=patient, context=["dr.martin", "Anne Martin"])


def test_hashes_are_argon2id_with_the_chosen_parameters():
    stored = passwords.hash_password("violet kettle orbit 1968")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert verify_password(stored, "violet kettle orbit 1968") == (True, None)
    assert verify_password(stored, "violet kettle orbit 1969") == (False, None)


def test_a_hash_with_lower_parameters_is_replaced_at_the_next_sign_in():
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash("amber lantern")
    matched, rehashed = verify_password(weak, "amber lantern")
    assert matched and rehashed is not None and "m=19456,t=2,p=1" in rehashed


def test_unknown_accounts_are_checked_against_a_dummy_hash():
    assert verify_password(None, "anything at all") == (False, None)
    assert verify_password("not a hash", "anything at all") == (False, None)


def test_the_same_password_typed_in_another_unicode_form_verifies():
    composed, decomposed = "café crème brûlée 42", "cafe\u0301 cre\u0300me bru\u0302le\u0301e 42"
    assert verify_password(passwords.hash_password(composed), decomposed)[0]


@settings(max_examples=20, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_a_wrong_password_never_verifies(guess):
    stored = passwords.hash_password("violet kettle orbit 1968")
    if passwords.normalise(guess) != "violet kettle orbit 1968":
        assert not verify_password(stored, guess)[0]
