"""Every records service that touches patient data asks access and journals, denials included.

An import graph cannot show this, so the test walks `records.__all__`: a new public function
that touches patient data must be added to GATED (and so be tested here) or to NOT_PATIENT_DATA
with a reason.
"""

from __future__ import annotations

import inspect
import io

import pytest
import sqlalchemy as sa

from coffre import records
from coffre.access import AccessDenied, Purpose
from coffre.records import Category, ErasureReason, FindCriteria
from factories import journal_records, lines_of, patient

GATED = {
    "import_patients": lambda c, a, pid, org: records.import_patients(
        c.uow(), c.vault, a, lines_of([patient()]), org
    ),
    "find_patients": lambda c, a, pid, org: records.find_patients(
        c.uow(), c.vault, a, FindCriteria(email="x@example.org")
    ),
    "read_patient": lambda c, a, pid, org: records.read_patient(
        c.uow(), c.vault, a, pid, Purpose.SUBJECT_ACCESS
    ),
    "export_patient": lambda c, a, pid, org: records.export_patient(
        c.uow(), c.vault, a, pid, Purpose.SUBJECT_ACCESS, io.BytesIO()
    ),
    "erase_patient": lambda c, a, pid, org: records.erase_patient(
        c.uow(), c.vault, a, pid, ErasureReason.TEST_DATA
    ),
    "add_clinical_entry": lambda c, a, pid, org: records.add_clinical_entry(
        c.uow(),
        c.vault,
        a,
        pid,
        {"resourceType": "Condition", "subject": {"reference": "x"}},
        Category.REASON,
        Purpose.DEMO,
    ),
    "add_document": lambda c, a, pid, org: records.add_document(
        c.uow(),
        c.vault,
        a,
        pid,
        io.BytesIO(b"%PDF-1.4"),
        "application/pdf",
        title="t",
        filename="f.pdf",
        purpose=Purpose.DEMO,
    ),
    "rotate_keys": lambda c, a, pid, org: records.rotate_keys(c.uow(), c.vault, a),
}

NOT_PATIENT_DATA = {
    "parse_patient": "validates text handed in; reads nothing stored",
    "valid_nir": "a check-digit computation",
    "valid_insz": "a check-digit computation",
    "reconcile_erasures": "destroys keys of already-erased patients; journals as the system",
}


def test_every_public_function_is_classified():
    functions = {name for name in records.__all__ if inspect.isfunction(getattr(records, name))}
    assert functions == set(GATED) | set(NOT_PATIENT_DATA)


def _journal(coffre):  # type: ignore[no-untyped-def]
    return journal_records(coffre)


@pytest.mark.parametrize("name", sorted(GATED))
def test_a_denied_call_is_journaled_and_changes_nothing_else(
    coffre, operator, stranger, organisation, name
):
    [(_, pid)] = records.import_patients(
        coffre.uow(), coffre.vault, operator, lines_of([patient()]), organisation
    ).imported
    before = _journal(coffre)
    with coffre.engine.connect() as conn:
        counts = [
            conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar()
            for t in ("patients", "clinical_entries", "documents", "erasures")
        ]
    with pytest.raises(AccessDenied):
        GATED[name](coffre, stranger, pid, organisation)
    after = _journal(coffre)
    assert len(after) == len(before) + 1
    assert (after[-1].decision, after[-1].outcome) == ("deny", "denied")
    with coffre.engine.connect() as conn:
        assert counts == [
            conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar()
            for t in ("patients", "clinical_entries", "documents", "erasures")
        ]


@pytest.mark.parametrize("name", sorted(GATED))
def test_an_allowed_call_is_journaled(coffre, operator, organisation, name):
    [(_, pid)] = records.import_patients(
        coffre.uow(), coffre.vault, operator, lines_of([patient()]), organisation
    ).imported
    before = _journal(coffre)
    GATED[name](coffre, operator, pid, organisation)
    after = _journal(coffre)
    assert len(after) > len(before)
    assert all(row.decision == "allow" and row.outcome == "success" for row in after[len(before) :])
