"""Tests for the deterministic demo-data generator."""

from __future__ import annotations

import random
import re
import struct
import unicodedata
import zlib
from datetime import date

import pytest
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient

from coffre.demo import people
from coffre.demo.content import clinical_entries, pdf_document, png_image
from coffre.demo.people import (
    INSZ_SYSTEM,
    NIR_SYSTEM,
    PROFESSIONS,
    patients,
    practitioners,
)

RESERVED_DOMAINS = {"example.org", "example.com", "example.net"}
_SCHEMA_TEXT = """
patient practitioner identifier created_at updated_at deleted_at record records document documents
journal entry entries access grant consent category content resource resources status subject
reference encrypted ciphertext nonce key_id wrapped_key tenant organization display numeric integer
boolean timestamp version revision alembic_version migration sequence primary foreign unique index
constraint column varchar character session token password username email phone address postal
country language gender birth active metadata payload checksum signature certificate channel
client pipeline routine learned value values description attachment mime_type filename observation
condition reason mental_health clinical_notes results
"""
SCHEMA_WORDS = tuple(_SCHEMA_TEXT.split())


@pytest.fixture(scope="module")
def sample() -> list[people.DemoPatient]:
    return patients(200)


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.replace("œ", "oe"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def nir_is_valid(nir: str) -> bool:
    digits = nir[:13].replace("2A", "19").replace("2B", "18")
    return digits.isdigit() and nir[13:].isdigit() and int(nir[13:]) == 97 - int(digits) % 97


def insz_is_valid(insz: str, born: date) -> bool:
    base = ("2" if born.year >= 2000 else "") + insz[:9]
    return int(insz[9:]) == 97 - int(base) % 97


def luhn_ok(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def test_every_patient_is_a_valid_fhir_r4_patient(sample: list[people.DemoPatient]) -> None:
    assert len(sample) == 200
    for p in sample:
        assert "id" not in p.resource
        model = Patient.model_validate(p.resource)
        assert model.active is True
        assert model.birthDate.isoformat() == p.birth_date
        assert p.resource["name"] == [{"use": "official", "family": p.family, "given": [p.given]}]
        assert p.resource["identifier"][0]["value"] == p.national_id
        telecom = {t["system"]: t for t in p.resource["telecom"]}
        assert telecom["phone"]["value"] == p.phone
        assert telecom["phone"]["use"] == "mobile"
        assert telecom["email"]["value"] == p.email
        address = p.resource["address"][0]
        assert address["line"] == [p.address_line]
        assert address["city"] == p.city
        assert address["country"] == p.country
        assert address["use"] == "home"
        assert len(address["postalCode"]) == (5 if p.country == "FR" else 4)
        assert address["postalCode"].isdigit()
        coding = p.resource["communication"][0]["language"]["coding"][0]
        assert coding["system"] == "urn:ietf:bcp:47"
        assert coding["code"] in ({"fr"} if p.country == "FR" else {"fr", "nl"})
        age = (date(2026, 1, 1) - date.fromisoformat(p.birth_date)).days / 365.25
        assert 0 <= age <= 95


def test_french_nir_is_valid_and_consistent(sample: list[people.DemoPatient]) -> None:
    french = [p for p in sample if p.country == "FR"]
    departments = set()
    for p in french:
        nir, born = p.national_id, date.fromisoformat(p.birth_date)
        assert p.resource["identifier"][0]["system"] == NIR_SYSTEM
        assert len(nir) == 15
        assert nir_is_valid(nir), nir
        assert nir[0] == ("1" if p.resource["gender"] == "male" else "2")
        assert nir[1:5] == f"{born.year % 100:02d}{born.month:02d}"
        assert re.fullmatch(r"\d\d|2A|2B", nir[5:7])
        assert nir[7:13].isdigit()
        departments.add(nir[5:7])
    assert {"2A", "2B"} <= departments


def test_corsican_nir_key_uses_the_numeric_substitution() -> None:
    assert people.nir_key("1850375123456") == f"{97 - 1850375123456 % 97:02d}"
    assert people.nir_key("18503" + "2A" + "123456") == f"{97 - 1850319123456 % 97:02d}"
    assert people.nir_key("18503" + "2B" + "123456") == f"{97 - 1850318123456 % 97:02d}"


def test_belgian_insz_is_valid_and_consistent(sample: list[people.DemoPatient]) -> None:
    belgian = [p for p in sample if p.country == "BE"]
    assert any(date.fromisoformat(p.birth_date).year >= 2000 for p in belgian)
    for p in belgian:
        insz, born = p.national_id, date.fromisoformat(p.birth_date)
        assert p.resource["identifier"][0]["system"] == INSZ_SYSTEM
        assert re.fullmatch(r"\d{11}", insz)
        assert insz[:6] == born.strftime("%y%m%d")
        serial = int(insz[6:9])
        assert 1 <= serial <= 997
        assert serial % 2 == (1 if p.resource["gender"] == "male" else 0)
        assert insz_is_valid(insz, born), insz


def test_country_split_and_languages(sample: list[people.DemoPatient]) -> None:
    french = sum(p.country == "FR" for p in sample)
    assert 100 <= french <= 140  # ~60 %
    languages = {
        p.resource["communication"][0]["language"]["coding"][0]["code"]
        for p in sample
        if p.country == "BE"
    }
    assert languages == {"fr", "nl"}


def test_identifiers_contacts_and_names_are_unique(sample: list[people.DemoPatient]) -> None:
    for attribute in ("national_id", "email", "phone"):
        values = [getattr(p, attribute) for p in sample]
        assert len(set(values)) == len(values), attribute
    pairs = [(p.family, p.given) for p in sample]
    assert len(set(pairs)) == len(pairs)


def test_phones_and_emails_are_well_formed(sample: list[people.DemoPatient]) -> None:
    for p in sample:
        pattern = r"\+33[67]\d{8}" if p.country == "FR" else r"\+324[789]\d{7}"
        assert re.fullmatch(pattern, p.phone), p.phone
        local, domain = p.email.split("@")
        assert domain in RESERVED_DOMAINS
        assert re.fullmatch(r"[a-z]+\.[a-z]+\.\d{4}", local), p.email


def test_patient_and_practitioner_names_never_overlap(sample: list[people.DemoPatient]) -> None:
    patient_names = {
        *people.PATIENT_FAMILY_NAMES,
        *people.PATIENT_GIVEN_NAMES,
        *(p.family for p in sample),
        *(p.given for p in sample),
    }
    staff = practitioners()
    staff_names = {
        *people.PRACTITIONER_FAMILY_NAMES,
        *people.PRACTITIONER_GIVEN_NAMES,
        *(d.family for d in staff),
        *(d.given for d in staff),
    }
    assert not patient_names & staff_names
    staff_full = [fold(f"{d.given} {d.family}") for d in staff]
    staff_full += [fold(n) for n in staff_names]
    for name in patient_names:
        assert sum(c.isalpha() for c in name) >= 4, name
        folded = fold(name)
        assert not any(folded in other for other in staff_full), name
        assert not any(fold(other) in folded for other in staff_names), name
        assert not any(folded in word for word in SCHEMA_WORDS), name


def test_practitioners_cover_every_profession() -> None:
    staff = practitioners()
    assert 9 <= len(staff) <= 12
    assert {d.profession for d in staff} == set(PROFESSIONS)
    assert {d.country for d in staff} == {"FR", "BE"}
    assert len({(d.family, d.given) for d in staff}) == len(staff)
    assert len({d.professional_id for d in staff}) == len(staff)
    for d in staff:
        assert (d.specialty is not None) == (d.profession == "specialist")
        assert re.fullmatch(r"\d{11}", d.professional_id)
        if d.country == "FR":
            assert d.professional_id.startswith("10")
            assert luhn_ok(d.professional_id)
        else:
            head = int(d.professional_id[:6])
            assert int(d.professional_id[6:8]) == 97 - head % 97


def test_clinical_entries_are_valid_fhir() -> None:
    rng = random.Random(42)
    seen_categories: set[str] = set()
    seen_codes: set[str] = set()
    for i in range(300):
        ref = f"Patient/{i}"
        entries = clinical_entries(ref, rng)
        assert 1 <= len(entries) <= 4
        for category, resource in entries:
            assert category in {"results", "clinical-notes", "mental-health", "reason"}
            seen_categories.add(category)
            assert resource["subject"] == {"reference": ref}
            if resource["resourceType"] == "Observation":
                model = Observation.model_validate(resource)
                assert model.status == "final"
                assert model.effectiveDateTime is not None
                assert model.code.coding[0].system == "http://loinc.org"
                seen_codes.add(model.code.coding[0].code)
                quantities = [model.valueQuantity] if model.valueQuantity else []
                quantities += [c.valueQuantity for c in model.component or []]
                assert quantities
                for q in quantities:
                    assert q.system == "http://unitsofmeasure.org"
                    assert q.code
                    assert q.value
            else:
                assert resource["resourceType"] == "Condition"
                model = Condition.model_validate(resource)
                assert model.clinicalStatus.coding[0].code == "active"
                assert model.verificationStatus.coding[0].code == "confirmed"
                systems = {c.system for c in model.code.coding}
                assert systems & {"http://snomed.info/sct", "http://hl7.org/fhir/sid/icd-10"}
                codes = {c.code for c in model.code.coding}
                seen_codes |= codes
                assert (category == "mental-health") == ("F32.9" in codes)
    assert seen_categories == {"results", "clinical-notes", "mental-health", "reason"}
    expected = {"85354-9", "4548-4", "29463-7", "2093-3", "44054006", "38341003", "195967001"}
    assert expected <= seen_codes


@pytest.mark.parametrize("title", ["Compte rendu", "Résultats (bilan) \\ été — 2025"])
def test_pdf_document_structure(title: str) -> None:
    data = pdf_document(title)
    assert data.startswith(b"%PDF-")
    assert data.rstrip().endswith(b"%%EOF")
    startxref = int(re.search(rb"startxref\s+(\d+)\s+%%EOF\s*$", data).group(1))
    assert data[startxref:].startswith(b"xref")
    header = re.match(rb"xref\s+0 (\d+)\s+", data[startxref:])
    count = int(header.group(1))
    table = data[startxref + header.end() :]
    entries = [table[i * 20 : (i + 1) * 20] for i in range(count)]
    assert entries[0] == b"0000000000 65535 f \n"
    for number, entry in enumerate(entries[1:], start=1):
        assert re.fullmatch(rb"\d{10} 00000 n \n", entry)
        offset = int(entry[:10])
        assert data[offset:].startswith(b"%d 0 obj" % number)
    length = int(re.search(rb"/Length (\d+)", data).group(1))
    stream = data.split(b"stream\n", 1)[1]
    assert stream[length:].startswith(b"endstream")
    if title.isascii():
        assert b"(" + title.encode() + b")" in data


def parse_png(data: bytes) -> tuple[dict[str, int], bytes]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body)
        chunks.append((kind, body))
        pos += 12 + length
    assert chunks[0][0] == b"IHDR"
    assert chunks[-1] == (b"IEND", b"")
    width, height, depth, colour, *_ = struct.unpack(">IIBBBBB", chunks[0][1])
    pixels = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    info = {"width": width, "height": height, "depth": depth, "colour": colour}
    return info, pixels


@pytest.mark.parametrize(("width", "height"), [(64, 64), (1, 1), (17, 5)])
def test_png_image_decodes(width: int, height: int) -> None:
    info, pixels = parse_png(png_image(width, height, seed=3))
    assert (info["width"], info["height"], info["depth"]) == (width, height, 8)
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[info["colour"]]
    row = 1 + width * channels
    assert len(pixels) == height * row
    assert all(pixels[y * row] == 0 for y in range(height))


def test_generation_is_deterministic() -> None:
    assert patients(30, seed=7) == patients(30, seed=7)
    assert patients(30, seed=7) != patients(30, seed=8)
    assert patients(10, seed=7) == patients(30, seed=7)[:10]
    assert practitioners(5) == practitioners(5)
    assert clinical_entries("Patient/a", random.Random(1)) == clinical_entries(
        "Patient/a", random.Random(1)
    )
    assert png_image(seed=1) == png_image(seed=1) != png_image(seed=2)
    assert pdf_document("x") == pdf_document("x")


def test_rejects_bad_arguments() -> None:
    assert patients(0) == []
    with pytest.raises(ValueError, match="count"):
        patients(-1)
    with pytest.raises(ValueError, match="width"):
        png_image(0, 4)
