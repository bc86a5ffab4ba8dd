"""What a Patient resource gives the relatives check: its family names and the street line
and postcode of each postal address (from its lines, or else its one-line text)."""

from __future__ import annotations

from typing import Any

from coffre.records.fhir import split_patient


def resource(**extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "name": [{"family": "Lefèvre", "given": ["Hélène"]}, {"family": "Durand"}, {"text": "H"}],
        "birthDate": "1985-05-12",
        **extra,
    }


def test_every_family_name_is_indexed_alone():
    assert split_patient(resource()).families == ("Lefèvre", "Durand")


def test_addresses_give_their_street_line_and_postcode():
    data = split_patient(
        resource(
            address=[
                {"line": ["12", "rue des Lilas"], "postalCode": "69003", "city": "Lyon"},
                {"text": "Rue Haute 5, 1000 Bruxelles"},
                {"line": ["3 rue Sans Code"], "city": "Nulle-Part"},  # no postcode
                {"postalCode": "75011"},  # no line, no text
                {"text": "somewhere"},
            ]
        )
    )
    assert data.addresses == (("12 rue des Lilas", "69003"), ("Rue Haute 5", "1000"))


def test_a_patient_without_address_has_none():
    assert split_patient(resource()).addresses == ()
