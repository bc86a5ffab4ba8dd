"""The profession × category matrix: the shipped default, its parser, and narrowing."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coffre.access import (
    CLINICAL,
    AccessError,
    Category,
    InvalidMatrix,
    Matrix,
    Profession,
    default_matrix,
    parse_matrix,
)
from coffre.access import matrix as matrix_module

HEADER = 'format = "coffre-matrix/1"\n'
EVERY_CELL = list(itertools.product(Profession, Category, [False, True]))


def cells(matrix: Matrix) -> set[tuple[Profession, Category, bool]]:
    return {(p, c, w) for p, c, w in EVERY_CELL if matrix.allows(p, c, writing=w)}


# ---------------------------------------------------------------------------------------
# The default matrix.
# ---------------------------------------------------------------------------------------


def test_the_default_matrix_loads_with_a_row_for_every_profession():
    matrix = default_matrix()
    assert set(matrix.read) == set(Profession) == set(matrix.write)
    assert default_matrix() is matrix  # loaded once
    shipped = Path(matrix_module.__file__).with_name("matrix.toml")
    assert parse_matrix(shipped.read_text(encoding="utf-8")) == matrix


def test_a_pharmacist_reads_prescriptions_not_mental_health():
    matrix = default_matrix()
    assert matrix.allows(Profession.PHARMACIST, Category.PRESCRIPTIONS, writing=False)
    assert not matrix.allows(Profession.PHARMACIST, Category.MENTAL_HEALTH, writing=False)


@pytest.mark.parametrize("writing", [False, True], ids=["read", "write"])
def test_administrative_staff_never_touch_clinical_content(writing):
    matrix = default_matrix()
    for category in CLINICAL:
        assert not matrix.allows(Profession.ADMINISTRATIVE, category, writing=writing), category
    for category in (Category.IDENTITY, Category.CONTACT, Category.APPOINTMENTS):
        assert matrix.allows(Profession.ADMINISTRATIVE, category, writing=writing), category


def test_no_profession_writes_what_it_may_not_read():
    matrix = default_matrix()
    for profession in Profession:
        assert matrix.write[profession] <= matrix.read[profession], profession


def test_the_clinical_categories_are_those_that_say_something_about_health():
    assert frozenset(Category) - CLINICAL == {
        Category.IDENTITY,
        Category.CONTACT,
        Category.ADMINISTRATIVE,
        Category.APPOINTMENTS,
    }


# ---------------------------------------------------------------------------------------
# parse_matrix.
# ---------------------------------------------------------------------------------------


def test_a_small_matrix_parses_and_anything_unlisted_is_refused():
    matrix = parse_matrix(HEADER + '[nurse]\nread = ["identity", "results"]\n')
    assert cells(matrix) == {
        (Profession.NURSE, Category.IDENTITY, False),
        (Profession.NURSE, Category.RESULTS, False),
    }
    assert parse_matrix(HEADER) == Matrix({}, {})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(HEADER + "[nurse\nread = []\n", "org.toml is not valid TOML (", id="bad-toml"),
        pytest.param(
            '[nurse]\nread = ["identity"]\n',
            "org.toml does not declare format = 'coffre-matrix/1'.",
            id="missing-format",
        ),
        pytest.param(
            'format = "coffre-matrix/2"\n',
            "org.toml does not declare format = 'coffre-matrix/1'.",
            id="wrong-format",
        ),
        pytest.param(
            "format = 1\n",
            "org.toml does not declare format = 'coffre-matrix/1'.",
            id="format-not-a-string",
        ),
        pytest.param(
            HEADER + '[surgeon]\nread = ["identity"]\n',
            "org.toml names an unknown profession 'surgeon'.",
            id="unknown-profession",
        ),
        pytest.param(
            HEADER + 'comment = "narrowed for the night shift"\n',
            "org.toml names an unknown profession 'comment'.",
            id="extra-top-level-key",
        ),
        pytest.param(
            HEADER + '[nurse]\nread = ["identity", "genome"]\n',
            "org.toml: [nurse].read holds something that is not a category.",
            id="unknown-category",
        ),
        pytest.param(
            HEADER + '[nurse]\nwrite = ["Results"]\n',
            "org.toml: [nurse].write holds something that is not a category.",
            id="category-wrong-case",
        ),
        pytest.param(
            HEADER + "[nurse]\nread = [1]\n",
            "org.toml: [nurse].read holds something that is not a category.",
            id="category-not-a-string",
        ),
        pytest.param(
            HEADER + "[nurse]\nread = 3\n",
            "org.toml: [nurse].read holds something that is not a category.",
            id="column-not-a-list",
        ),
        pytest.param(
            HEADER + '[nurse]\nread = ["identity"]\nexport = ["identity"]\n',
            "org.toml: [nurse] may hold only 'read' and 'write' lists.",
            id="extra-column",
        ),
        pytest.param(
            HEADER + 'nurse = ["identity"]\n',
            "org.toml: [nurse] may hold only 'read' and 'write' lists.",
            id="profession-not-a-table",
        ),
    ],
)
def test_a_bad_matrix_is_refused_with_a_clear_message(text, message):
    with pytest.raises(InvalidMatrix) as caught:
        parse_matrix(text, "org.toml")
    assert str(caught.value).startswith(message)
    assert isinstance(caught.value, AccessError)


def test_the_message_names_the_source_by_default():
    with pytest.raises(InvalidMatrix, match=r"^the matrix does not declare format"):
        parse_matrix("")


@pytest.mark.parametrize("column", ["{identity = true}", '""'], ids=["table", "string"])
def test_a_column_that_is_not_a_list_is_refused(column):
    with pytest.raises(InvalidMatrix, match=r"\[nurse\]\.read"):
        parse_matrix(f"{HEADER}[nurse]\nread = {column}\n", "org.toml")


# ---------------------------------------------------------------------------------------
# Narrowing.
# ---------------------------------------------------------------------------------------

column_strategy = st.dictionaries(
    st.sampled_from(list(Profession)), st.frozensets(st.sampled_from(list(Category)))
)
matrices = st.builds(Matrix, read=column_strategy, write=column_strategy)


@settings(max_examples=200, deadline=None, database=None)
@given(first=matrices, second=matrices)
def test_narrowed_is_the_intersection(first, second):
    assert cells(first.narrowed(second)) == cells(first) & cells(second)
    assert cells(default_matrix().narrowed(second)) <= cells(default_matrix())


def test_an_organisation_cannot_widen_the_default_by_narrowing():
    organisation = parse_matrix(
        HEADER
        + '[pharmacist]\nread = ["prescriptions", "mental-health"]\nwrite = ["prescriptions"]\n'
        + '[nurse]\nread = ["identity", "contact", "appointments", "clinical-notes"]\n'
    )
    matrix = default_matrix().narrowed(organisation)
    assert matrix.allows(Profession.PHARMACIST, Category.PRESCRIPTIONS, writing=False)
    assert not matrix.allows(Profession.PHARMACIST, Category.MENTAL_HEALTH, writing=False)
    assert not matrix.allows(Profession.PHARMACIST, Category.PRESCRIPTIONS, writing=True)
    assert not matrix.allows(Profession.NURSE, Category.RESULTS, writing=False)
    assert not matrix.allows(Profession.NURSE, Category.CLINICAL_NOTES, writing=True)
    # A profession the organisation does not list gets nothing.
    assert cells(matrix) <= {
        cell for cell in cells(default_matrix()) if cell[0] in organisation.read
    }
    assert not cells(default_matrix().narrowed(Matrix({}, {})))
