"""The directory's name searches compare text as FHIR's string search does."""

from __future__ import annotations

import pytest

from coffre.api.directory import folded


@pytest.mark.parametrize(
    ("stored", "typed"),
    [
        ("Dr Hautecœur", "hautecoeur"),
        ("ŒUVRE", "oeuvre"),
        ("Lætitia Vidal", "laetitia"),
        ("Hélène Quéméner", "helene quemener"),
        ("Straße", "strasse"),
    ],
)
def test_case_accents_and_ligatures_do_not_count(stored: str, typed: str) -> None:
    assert folded(typed) in folded(stored)
