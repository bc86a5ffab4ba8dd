"""Journal export's guards: impossible times, unpublished codes, and events without progress."""

from __future__ import annotations

import io
import json
import re
from dataclasses import replace

import pytest

from coffre.journal import EventKind, Record
from coffre.journal import export as formats

OBSERVER = "coffre.example.org"
RECORD = Record(
    seq=7,
    time="2026-11-23T05:23:14.123456Z",
    actor_kind="operator",
    actor_id="operator:ana@host",
    organisation_id=None,
    session_id=None,
    source="cli@host",
    action=EventKind.PATIENT_READ.value,
    purpose="subject-access",
    patient_ids=("0b7e3c1e-1111-4222-8333-444455556666",),
    resource_ids=(),
    decision="allow",
    rule="operator-subject-access-read",
    explanation="the local operator may read a patient's data",
    outcome="success",
)


@pytest.mark.parametrize(
    "time",
    ["2026-13-01T00:00:00.000000Z", "2026-02-30T00:00:00.000000Z", "2026-01-01T25:00:00.000000Z"],
)
def test_a_time_of_the_right_shape_but_no_real_instant_is_refused(time):
    with pytest.raises(ValueError, match="journal entry 7: not a valid AuditEvent"):
        formats.to_audit_event(replace(RECORD, time=time), observer=OBSERVER)


def test_a_coding_outside_the_published_code_lists_is_refused(monkeypatch):
    restful = "http://hl7.org/fhir/restful-interaction"
    monkeypatch.setitem(formats._VALID, restful, {"create"})
    with pytest.raises(ValueError, match=re.escape(f"unexpected code 'read' of {restful}")):
        formats.to_audit_event(RECORD, observer=OBSERVER)


def test_an_entity_without_any_decision_text_has_no_detail():
    # Unreachable from to_audit_event, which insists on "allow" or "deny" first.
    record = replace(RECORD, decision="", rule="", explanation="")
    pattern = formats._PATTERNS[record.action]
    journal_entity = formats._entities(record, pattern)[-1]
    assert journal_entity["name"] == "Coffre journal entry 7"
    assert "detail" not in journal_entity


def test_ndjson_is_written_without_a_progress_callback():
    out = io.StringIO()
    count = formats.write_ndjson(
        [RECORD, replace(RECORD, seq=8)], out, observer=OBSERVER, progress=None
    )
    assert count == 2
    assert [json.loads(line)["id"] for line in out.getvalue().splitlines()] == [
        "journal-7",
        "journal-8",
    ]
