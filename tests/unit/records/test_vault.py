"""A patient's sealed values open to exactly what was sealed, whatever JSON they hold."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from coffre.crypto import DataKey
from coffre.crypto.errors import DecryptionFailed
from coffre.records.vault import PatientBox

BOX = PatientBox(DataKey("p1", 1, b"k" * 32), "org-1")

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(value=values)
@example(value={"value": 2**64, "unit": "mg"})  # beyond 64 bits: must stay an integer
@example(value=[-(2**70), 10**18, 0.1, 1e308, "1234567890123456789012", "é\u2028"])
@example(value={"low": float("-inf"), "high": float("inf")})  # json.dumps writes them
def test_a_sealed_value_opens_to_what_was_sealed(value: Any) -> None:
    sealed = BOX.seal_json("patients", "identity", "p1", value)
    opened = BOX.open_json("patients", "identity", "p1", sealed)
    assert opened == value
    assert json.dumps(opened) == json.dumps(value)  # same types: an int stays an int


def test_a_value_opens_only_where_it_was_sealed() -> None:
    sealed = BOX.seal_json("patients", "identity", "p1", {"family": "Dupont"})
    with pytest.raises(DecryptionFailed):
        BOX.open_json("patients", "contact", "p1", sealed)
