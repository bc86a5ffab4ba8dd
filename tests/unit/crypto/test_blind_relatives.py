"""Blind indexes for the relatives check: the family name alone and the postal address, one
digest whatever the spelling, none shared with another kind."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coffre.crypto import (
    BlindIndex,
    IndexKind,
    normalise_address,
    split_address,
    street_line,
)

examples = settings(max_examples=50, deadline=None, database=None)
BLIND = BlindIndex(b"k" * 32)


@pytest.mark.parametrize("spelling", ["Lefèvre", "LEFEVRE", " lefevre ", "Le-Fèvre"])
def test_one_family_digest_whatever_the_spelling(spelling):
    assert BLIND.family(spelling) == BLIND.digest(IndexKind.FAMILY, "lefevre")


def test_the_family_alone_is_not_the_family_with_a_birth_date():
    assert BLIND.family("Martin") != BLIND.family_birth("Martin", "")
    assert BLIND.family("Martin") != BlindIndex(b"K" * 32).family("Martin")


@pytest.mark.parametrize("nothing", ["", "  ", "-'", "·"])
def test_a_family_name_with_nothing_left_has_no_digest(nothing):
    assert BLIND.family(nothing) is None


@pytest.mark.parametrize(
    ("street", "postcode"),
    [
        ("12 rue des Lilas", "75011"),
        ("12, Rue des LILAS", "75 011"),
        ("12  rue   des lilas.", "75011"),
        ("12 Rue dès Lilas", " 75011 "),
    ],
)
def test_one_address_digest_whatever_the_spelling(street, postcode):
    assert normalise_address(street, postcode) == "75011|12 rue des lilas"
    assert BLIND.address(street, postcode) == BLIND.digest(
        IndexKind.ADDRESS, "75011|12 rue des lilas"
    )


def test_letters_of_any_script_are_kept():
    assert normalise_address("Straße Ø 3", "1000") == "1000|strasse ø 3"


@pytest.mark.parametrize(("street", "postcode"), [("", "75011"), ("12 rue", ""), (", .", "-")])
def test_an_address_without_both_parts_has_no_digest(street, postcode):
    assert normalise_address(street, postcode) == ""
    assert BLIND.address(street, postcode) is None


def test_the_same_street_in_another_postcode_is_another_address():
    assert BLIND.address("12 rue des Lilas", "75011") != BLIND.address("12 rue des Lilas", "69003")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12 rue des Lilas, 75011 Paris", ("12 rue des Lilas", "75011")),
        ("12, rue des Lilas, 75011 Paris", ("12 rue des Lilas", "75011")),
        ("12 bis, rue des Lilas; 75011 Paris", ("12 bis rue des Lilas", "75011")),
        ("Rue Haute 5, 1000 Bruxelles", ("Rue Haute 5", "1000")),
        ("12 rue des Lilas 75011 Paris", ("12 rue des Lilas", "75011")),
        ("1234 chemin Vert, 75011 Paris", ("1234 chemin Vert", "75011")),
        ("75011 Paris", None),  # no street line
        ("12 rue des Lilas, Paris", None),  # no postcode
        ("", None),
    ],
)
def test_an_address_on_one_line_is_split_into_street_and_postcode(text, expected):
    assert split_address(text) == expected


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["12 rue des Lilas", "Bâtiment B"], "12 rue des Lilas"),
        (["12", "rue des Lilas"], "12 rue des Lilas"),
        (["", "  ", "3 rue Haute"], "3 rue Haute"),
        (["12"], "12"),
        ([], ""),
    ],
)
def test_the_street_line_is_the_first_line_with_a_lone_house_number_joined(lines, expected):
    assert street_line(lines) == expected


@examples
@given(street=st.text(max_size=30), postcode=st.text(max_size=8))
def test_an_address_digest_is_never_another_kinds(street, postcode):
    normalised = normalise_address(street, postcode)
    digest = BLIND.address(street, postcode)
    if not normalised:
        assert digest is None
        return
    assert digest not in {BLIND.digest(kind, normalised) for kind in IndexKind if kind != "address"}
