"""Deterministic fictitious clinical entries and documents for the demo patients.

Everything here is invented; the same `random.Random` always yields the same entries.
"""

from __future__ import annotations

import random
import struct
import zlib
from collections.abc import Callable
from datetime import datetime, timedelta

from coffre.demo.people import REFERENCE_DATE

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
UCUM = "http://unitsofmeasure.org"
_OBS_CAT = "http://terminology.hl7.org/CodeSystem/observation-category"
_COND_CAT = "http://terminology.hl7.org/CodeSystem/condition-category"
_COND_CLIN = "http://terminology.hl7.org/CodeSystem/condition-clinical"
_COND_VER = "http://terminology.hl7.org/CodeSystem/condition-ver-status"


# --- Clinical entries. --------------------------------------------------------------------------


_Builder = Callable[[str, random.Random], tuple[str, dict]]


def _when(rng: random.Random) -> datetime:
    day = REFERENCE_DATE - timedelta(days=rng.randint(1, 3 * 365))
    return datetime(day.year, day.month, day.day, rng.randint(8, 18), rng.choice((0, 15, 30, 45)))


def _quantity(value: float, unit: str) -> dict:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _observation(ref: str, rng: random.Random, cat: str, code: str, display: str, **rest) -> dict:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": _OBS_CAT, "code": cat}]}],
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display},
        "subject": {"reference": ref},
        "effectiveDateTime": _when(rng).isoformat() + "+01:00",
        **rest,
    }


def _blood_pressure(ref: str, rng: random.Random) -> tuple[str, dict]:
    systolic, diastolic = rng.randint(105, 165), rng.randint(62, 98)
    components = [
        {
            "code": {"coding": [{"system": LOINC, "code": code, "display": label}]},
            "valueQuantity": _quantity(value, "mm[Hg]"),
        }
        for code, label, value in (
            ("8480-6", "Systolic blood pressure", systolic),
            ("8462-4", "Diastolic blood pressure", diastolic),
        )
    ]
    obs = _observation(ref, rng, "vital-signs", "85354-9", "Blood pressure panel")
    return "clinical-notes", {**obs, "component": components}


def _simple(entry: str, code: str, name: str, unit: str, lo: float, hi: float, nd: int) -> _Builder:
    """Builder of a single-valued Observation (vital sign or laboratory result)."""
    cat = "laboratory" if entry == "results" else "vital-signs"

    def build(ref: str, rng: random.Random) -> tuple[str, dict]:
        value = _quantity(round(rng.uniform(lo, hi), nd), unit)
        return entry, _observation(ref, rng, cat, code, name, valueQuantity=value)

    return build


def _condition(entry: str, snomed: tuple[str, str], icd: tuple[str, str], kind: str) -> _Builder:
    """Builder of an active, confirmed Condition coded in SNOMED CT and ICD-10."""

    def build(ref: str, rng: random.Random) -> tuple[str, dict]:
        recorded = _when(rng).date()
        onset = recorded - timedelta(days=rng.randint(0, 10 * 365))
        return entry, {
            "resourceType": "Condition",
            "clinicalStatus": {"coding": [{"system": _COND_CLIN, "code": "active"}]},
            "verificationStatus": {"coding": [{"system": _COND_VER, "code": "confirmed"}]},
            "category": [{"coding": [{"system": _COND_CAT, "code": kind}]}],
            "code": {
                "coding": [
                    {"system": SNOMED, "code": snomed[0], "display": snomed[1]},
                    {"system": ICD10, "code": icd[0], "display": icd[1]},
                ],
                "text": snomed[1],
            },
            "subject": {"reference": ref},
            "onsetDateTime": onset.isoformat(),
            "recordedDate": recorded.isoformat(),
        }

    return build


_ENTRY_BUILDERS = (
    _blood_pressure,
    _simple("clinical-notes", "29463-7", "Body weight", "kg", 48, 112, 1),
    _simple("clinical-notes", "8867-4", "Heart rate", "/min", 52, 98, 0),
    _simple("results", "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", 4.8, 9.5, 1),
    _simple("results", "2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "g/L",
            1.4, 2.9, 2),
    _simple("results", "1558-6", "Glucose [Mass/volume] in Serum or Plasma --fasting", "g/L",
            0.7, 1.6, 2),
    _condition("reason", ("44054006", "Diabetes mellitus type 2"),
               ("E11.9", "Type 2 diabetes mellitus without complications"), "problem-list-item"),
    _condition("reason", ("38341003", "Hypertensive disorder"),
               ("I10", "Essential (primary) hypertension"), "problem-list-item"),
    _condition("reason", ("195967001", "Asthma"), ("J45.9", "Asthma, unspecified"),
               "encounter-diagnosis"),
)  # fmt: skip
_DEPRESSION = _condition(
    "mental-health",
    ("35489007", "Depressive disorder"),
    ("F32.9", "Depressive episode, unspecified"),
    "encounter-diagnosis",
)


def clinical_entries(patient_ref: str, rng: random.Random) -> list[tuple[str, dict]]:
    """Return 1-4 ``(category, resource)`` pairs of FHIR Observations and Conditions.

    Categories: vital signs -> ``clinical-notes``; lab results -> ``results``; chronic
    conditions -> ``reason``; an occasional depressive episode -> ``mental-health``.
    """
    builders = rng.sample(_ENTRY_BUILDERS, rng.randint(1, 4))
    if rng.random() < 0.12:
        builders[-1] = _DEPRESSION
    return [build(patient_ref, rng) for build in builders]


# --- Documents. ---------------------------------------------------------------------------------


def _pdf_string(text: str) -> bytes:
    raw = text.encode("cp1252", errors="replace")
    out = bytearray(b"(")
    for byte in raw:
        if byte in b"()\\":
            out += b"\\" + bytes([byte])
        elif 32 <= byte < 127:
            out.append(byte)
        else:
            out += b"\\%03o" % byte
    return bytes(out + b")")


def pdf_document(title: str) -> bytes:
    """Return a one-page PDF 1.4 whose page shows ``title`` (Helvetica, WinAnsi)."""
    content = (
        b"BT /F1 20 Tf 72 770 Td " + _pdf_string(title) + b" Tj ET\n"
        b"BT /F1 10 Tf 72 745 Td " + _pdf_string("Document fictif - données de démonstration")
        + b" Tj ET\n"
    )  # fmt: skip
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"endstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF" % (len(objects) + 1, xref)
    return bytes(out)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_image(width: int = 64, height: int = 64, seed: int = 0) -> bytes:
    """Return an 8-bit RGB PNG of a diagonal gradient whose tint depends on ``seed``."""
    if width < 1 or height < 1:
        raise ValueError("width and height must be >= 1")
    rng = random.Random(seed)
    base = [rng.randint(0, 255) for _ in range(3)]
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type: None
        for x in range(width):
            fx, fy = x / max(width - 1, 1), y / max(height - 1, 1)
            rows += bytes(
                (
                    int(base[0] * (1 - fx) + 255 * fx) & 0xFF,
                    int(base[1] * (1 - fy) + 255 * fy) & 0xFF,
                    int(base[2] * (1 - (fx + fy) / 2)) & 0xFF,
                )
            )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + _png_chunk(b"IEND", b"")
    )
