"""Reading FHIR Patients: the standard's rules plus the codes and check digits Coffre relies on."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coffre.records import (
    INSZ_SYSTEM,
    NIR_SYSTEM,
    InvalidResource,
    parse_patient,
    valid_insz,
    valid_nir,
)
from coffre.records.fhir import check_required_codes
from factories import insz, nir, patient


def test_known_identifiers_pass_their_checks():
    # A NIR from the published example structure, key computed by hand: 97 - (1850578006084 % 97)
    assert valid_nir("1 85 05 78 006 084 91")
    assert valid_nir(nir(sex=2, department="2A", serial=12))
    assert valid_nir(nir(sex=1, department="2B", serial=345))
    assert not valid_nir("185057800608492")
    assert not valid_nir("18505780060849")
    assert valid_insz("85.07.30-033.28")
    assert not valid_insz("85073003329")
    # Born in 2000 or later: the check uses a leading 2.
    body = "050101123"
    assert valid_insz(body + f"{97 - int('2' + body) % 97:02d}")


@given(st.text(alphabet="0123456789", min_size=13, max_size=13))
def test_a_wrong_nir_key_is_always_caught(body):
    key = 97 - int(body) % 97
    wrong = (key % 97) + 1
    assert not valid_nir(f"{body}{wrong:02d}") or body[0] not in "1234678"


def test_a_valid_patient_is_split_into_sealed_parts_and_index_keys():
    resource = patient(
        family="Le Goff",
        given="Anne",
        email="anne@example.org",
        phone="0612345678",
        national=(INSZ_SYSTEM, insz()),
    )
    resource["id"] = "their-id"
    data = parse_patient(json.dumps(resource))
    assert "telecom" not in data.identity and "address" not in data.identity
    assert "id" not in data.identity
    assert data.contact["telecom"][1]["value"] == "anne@example.org"
    assert data.national_ids == ((INSZ_SYSTEM, insz()),)
    assert data.emails == ("anne@example.org",) and data.phones == ("0612345678",)
    assert data.family_births == (("Le Goff", "1985-05-12"),)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda r: r.update(gender="lizard"), "gender 'lizard'"),
        (lambda r: r.update(resourceType="Practitioner"), "expected 'Patient'"),
        (lambda r: r.update(name=[{"given": ["Anne"]}]), "no name with a family name"),
        (lambda r: r.update(birthDate="12/05/1985"), "not a valid FHIR R4 Patient"),
        (
            lambda r: r.update(identifier=[{"system": NIR_SYSTEM, "value": "123"}]),
            "not a valid NIR",
        ),
        (
            lambda r: r.update(identifier=[{"system": INSZ_SYSTEM, "value": "85073003329"}]),
            "not a valid INSZ",
        ),
        (lambda r: r["telecom"].append({"system": "email", "value": "nope"}), "e-mail"),
        (lambda r: r["telecom"].append({"system": "phone", "value": "12"}), "phone number"),
        (lambda r: r["telecom"].append({"system": "pigeon", "value": "x"}), "contact system"),
        (lambda r: r.update(unknownField=1), "not a valid FHIR R4 Patient"),
    ],
)
def test_invalid_patients_are_refused_with_the_reason(change, reason):
    resource = patient()
    change(resource)
    with pytest.raises(InvalidResource, match=reason):
        parse_patient(json.dumps(resource))


@pytest.mark.parametrize("text", ["", "{", "[1]", "null", '"Patient"', "x" * 300_000])
def test_text_that_is_not_a_json_object_is_refused(text):
    with pytest.raises(InvalidResource):
        parse_patient(text)


_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"


@pytest.mark.parametrize(
    ("codings", "allowed"),
    [
        ([{"system": _VERIFICATION, "code": "confirmed"}], True),
        (
            [{"system": "urn:local", "code": "x"}, {"system": _VERIFICATION, "code": "refuted"}],
            True,
        ),
        ([{"system": "urn:local", "code": "confirmed"}], False),  # not the binding's system
        (
            [
                {"system": _VERIFICATION, "code": "confirmed"},
                {"system": _VERIFICATION, "code": "maybe"},
            ],
            False,
        ),
        ([], False),
    ],
)
def test_a_codeable_concept_needs_an_allowed_coding_of_its_binding(codings, allowed) -> None:
    condition = {"resourceType": "Condition", "verificationStatus": {"coding": codings}}
    if allowed:
        check_required_codes(condition)
        return
    with pytest.raises(InvalidResource) as refused:
        check_required_codes(condition)
    assert refused.value.path == "Condition.verificationStatus"


def test_resources_without_required_codes_pass_untouched() -> None:
    check_required_codes({"resourceType": "Binary", "status": "anything"})
    check_required_codes({"resourceType": "Observation"})  # absent: the model requires it
