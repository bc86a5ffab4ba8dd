"""Subject-access export, clinical entries and chunked documents."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os

import pytest
import sqlalchemy as sa
from fhir.resources.R4B.bundle import Bundle

from coffre import records
from coffre.access import AccessDenied, Purpose
from coffre.crypto import DecryptionFailed
from coffre.records import Category, ContentTypeMismatch, DocumentTooLarge
from factories import journal_records, lines_of, patient

OBSERVATION = {
    "resourceType": "Observation",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4", "display": "HbA1c"}]},
    "valueQuantity": {
        "value": 7.1,
        "unit": "%",
        "system": "http://unitsofmeasure.org",
        "code": "%",
    },
    "subject": {"reference": "Patient/x"},
}


class Trickle(io.RawIOBase):
    """A large PDF produced on the fly, to show the vault never needs it whole."""

    def __init__(self, size: int) -> None:
        self.remaining = size
        self.head = b"%PDF-1.4\n"
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self.remaining <= 0:
            return b""
        n = min(n if n > 0 else 65536, self.remaining)
        data = (self.head + os.urandom(n))[:n]
        self.head = b""
        self.remaining -= len(data)
        self.digest.update(data)
        return data


@pytest.fixture
def patient_id(coffre, operator, organisation):  # type: ignore[no-untyped-def]
    report = records.import_patients(
        coffre.uow(), coffre.vault, operator, lines_of([patient(family="Aubert")]), organisation
    )
    return report.imported[0][1]


def _add_pdf(coffre, operator, patient_id, data: bytes, **kwargs):  # type: ignore[no-untyped-def]
    return records.add_document(
        coffre.uow(),
        coffre.vault,
        operator,
        patient_id,
        io.BytesIO(data),
        kwargs.pop("content_type", "application/pdf"),
        title="Compte rendu",
        filename="cr.pdf",
        purpose=Purpose.DEMO,
        **kwargs,
    )


def test_export_holds_everything_on_the_patient_as_a_valid_bundle(coffre, operator, patient_id):
    entry_id = records.add_clinical_entry(
        coffre.uow(),
        coffre.vault,
        operator,
        patient_id,
        OBSERVATION,
        Category.RESULTS,
        Purpose.DEMO,
    )
    pdf = b"%PDF-1.4\n" + os.urandom(3 * coffre.settings.document_chunk_bytes + 17)
    document = _add_pdf(coffre, operator, patient_id, pdf)
    out = io.BytesIO()
    summary = records.export_patient(
        coffre.uow(), coffre.vault, operator, patient_id, Purpose.SUBJECT_ACCESS, out
    )
    bundle = json.loads(out.getvalue())
    Bundle.model_validate(bundle)
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds == ["Patient", "Observation", "DocumentReference", "Binary"]
    assert summary.resources == 4 and summary.documents == 1
    assert bundle["entry"][0]["resource"]["name"][0]["family"] == "Aubert"
    assert bundle["entry"][1]["resource"]["id"] == entry_id
    assert bundle["entry"][1]["resource"]["valueQuantity"]["value"] == 7.1
    assert base64.b64decode(bundle["entry"][3]["resource"]["data"]) == pdf
    reference = bundle["entry"][2]["resource"]
    assert reference["content"][0]["attachment"]["size"] == len(pdf) == document.size
    assert document.sha256 == hashlib.sha256(pdf).hexdigest()
    [exported] = [r for r in journal_records(coffre) if r.action == "records:patient:export"]
    assert set(exported.resource_ids) == {entry_id, document.id}


def test_export_for_another_purpose_is_denied_and_journaled(coffre, operator, patient_id):
    out = io.BytesIO()
    with pytest.raises(AccessDenied) as caught:
        records.export_patient(coffre.uow(), coffre.vault, operator, patient_id, Purpose.CARE, out)
    assert caught.value.rule == "operator-subject-access-purpose"
    assert out.getvalue() == b""
    row = journal_records(coffre)[-1]
    assert (row.decision, row.outcome) == ("deny", "denied") and patient_id in row.patient_ids


def test_a_large_document_is_sealed_in_chunks(coffre, operator, patient_id):
    source = Trickle(5 * 1024 * 1024 + 3)
    info = records.add_document(
        coffre.uow(),
        coffre.vault,
        operator,
        patient_id,
        source,
        "application/pdf",
        title="Scanner",
        filename="ct.pdf",
        purpose=Purpose.DEMO,
    )
    assert info.size == 5 * 1024 * 1024 + 3
    assert info.sha256 == source.digest.hexdigest()
    with coffre.engine.connect() as conn:
        sizes = list(
            conn.execute(sa.text("SELECT length(data) FROM document_chunks ORDER BY idx")).scalars()
        )
    chunk = coffre.settings.document_chunk_bytes
    assert len(sizes) == -(-info.size // chunk)
    assert max(sizes) <= chunk + 8 + 16


@pytest.mark.parametrize("tamper", ["drop", "swap", "truncate", "flip"])
def test_a_tampered_document_does_not_export(coffre, operator, patient_id, tamper):
    pdf = b"%PDF-1.4\n" + os.urandom(4 * coffre.settings.document_chunk_bytes)
    document = _add_pdf(coffre, operator, patient_id, pdf)
    with coffre.engine.begin() as conn:
        chunks = dict(
            conn.execute(
                sa.text("SELECT idx, data FROM document_chunks WHERE document_id = :d"),
                {"d": document.id},
            ).all()
        )
        last = max(chunks)
        if tamper == "drop":
            conn.execute(sa.text("DELETE FROM document_chunks WHERE idx = 2"))
        elif tamper == "truncate":
            conn.execute(sa.text("DELETE FROM document_chunks WHERE idx = :i"), {"i": last})
        elif tamper == "swap":
            for a, b in ((1, 2), (2, 1)):
                conn.execute(
                    sa.text("UPDATE document_chunks SET data = :v WHERE idx = :i"),
                    {"v": chunks[b], "i": a},
                )
        else:
            flipped = bytearray(chunks[1])
            flipped[100] ^= 1
            conn.execute(
                sa.text("UPDATE document_chunks SET data = :v WHERE idx = 1"), {"v": bytes(flipped)}
            )
    with pytest.raises(DecryptionFailed):
        records.export_patient(
            coffre.uow(), coffre.vault, operator, patient_id, Purpose.SUBJECT_ACCESS, io.BytesIO()
        )


def test_an_oversized_document_is_refused_and_nothing_is_stored(coffre, operator, patient_id):
    limit = coffre.vault.settings.document_max_bytes
    coffre.vault.settings = type(coffre.vault.settings)(
        document_max_bytes=1000,
        document_chunk_bytes=256,
        phone_regions=coffre.vault.settings.phone_regions,
    )
    try:
        with pytest.raises(DocumentTooLarge):
            _add_pdf(coffre, operator, patient_id, b"%PDF-1.4\n" + b"x" * 1000)
    finally:
        coffre.vault.settings = type(coffre.vault.settings)(
            document_max_bytes=limit,
            document_chunk_bytes=coffre.settings.document_chunk_bytes,
            phone_regions=coffre.settings.phone_regions,
        )
    with coffre.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM documents")).scalar_one() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM document_chunks")).scalar_one() == 0


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        ("application/pdf", b"\x89PNG\r\n\x1a\nrest"),
        ("image/png", b"%PDF-1.4"),
        ("application/x-msdownload", b"MZ\x90\x00"),
        ("application/pdf", b""),
    ],
)
def test_content_that_is_not_its_declared_type_is_refused(
    coffre, operator, patient_id, content_type, data
):
    with pytest.raises(ContentTypeMismatch):
        _add_pdf(coffre, operator, patient_id, data, content_type=content_type)
    with coffre.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM documents")).scalar_one() == 0
