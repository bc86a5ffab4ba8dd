"""The numbers a search takes: `_count`, `_offset` and `_before` are whole ASCII numbers of
bounded length, and a page is never larger than the server answers; `_count=0` asks only how
many match, which no search tells."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coffre.api.body import MAX_DIGITS, MAX_PAGE, number, page_size
from coffre.api.outcomes import Problem
from coffre.api.search import next_page


@pytest.mark.parametrize("text", ["²", "٣", "-1", "1.5", "1e3", " 7", "", "9" * (MAX_DIGITS + 1)])
def test_a_number_that_is_not_plain_ascii_digits_is_a_400(text: str) -> None:
    with pytest.raises(Problem) as refused:
        number({"_count": [text]}, "_count", 50)
    assert refused.value.status == 400


@given(st.integers(min_value=0, max_value=10**MAX_DIGITS - 1))
def test_plain_numbers_read_as_themselves(value: int) -> None:
    assert number({"_offset": [str(value)]}, "_offset", 0) == value


@given(st.integers(min_value=0, max_value=10**6))
def test_the_page_size_is_at_most_the_largest_page(asked: int) -> None:
    size = page_size({"_count": [str(asked)]})
    assert size == min(asked, MAX_PAGE)


def test_a_count_of_zero_is_zero() -> None:
    assert page_size({"_count": ["0"]}) == page_size({"_count": ["000"]}) == 0


@given(st.integers(min_value=1, max_value=10**6), st.integers(min_value=0, max_value=10**6))
def test_a_next_link_always_moves_on_by_the_page_answered(asked: int, offset: int) -> None:
    params = {"_count": [str(asked)], "_offset": [str(offset)]}
    size = page_size(params)
    following = next_page(params, offset, size, more=True)
    assert following is not None
    assert int(following["_offset"][0]) == offset + size > offset
    assert next_page(params, offset, size, more=False) is None


def test_no_count_means_the_default_page() -> None:
    assert page_size({}) == 50
