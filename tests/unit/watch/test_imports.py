"""Other systems' logs read as journal events: each format, the mapping, bad lines by
number, patient ids hashed, nothing but the journal's fields kept."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from coffre.watch.formats import FIELDS, Format, FormatError, Pseudonyms, parse_mapping
from coffre.watch.logfiles import parse

KEY = b"k" * 32
NAMES = ("Marie Curie", "Dr Jean Dupont", "Rue des Lilas")


def audit_event(**changes: object) -> dict[str, object]:
    event: dict[str, object] = {
        "resourceType": "AuditEvent",
        "type": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110110"},
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": "read"}],
        "action": "R",
        "recorded": "2026-11-23T10:04:05.123+01:00",
        "outcome": "4",
        "purposeOfEvent": [{"coding": [{"code": "TREAT", "display": "treatment"}]}],
        "agent": [
            {"who": {"display": "Server"}, "requestor": False},
            {
                "who": {"reference": "Practitioner/p1", "display": "Dr Jean Dupont"},
                "requestor": True,
                "network": {"address": "198.51.100.7", "type": "2"},
                "policy": ["urn:coffre:session:s-42"],
            },
        ],
        "entity": [
            {"what": {"reference": "Patient/42", "display": "Marie Curie"}},
            {
                "what": {"identifier": {"system": "urn:oid:1.2.250.1.213.1.4.8", "value": "185"}},
                "role": {
                    "system": "http://terminology.hl7.org/CodeSystem/object-role",
                    "code": "1",
                },
            },
            {"what": {"reference": "DocumentReference/d9"}, "description": "Rue des Lilas"},
            {"query": "bmFtZT1DdXJpZQ==", "description": "name=Curie"},
        ],
    }
    event.update(changes)
    return event


def lines(*objects: object) -> list[bytes]:
    return [(o if isinstance(o, str) else json.dumps(o)).encode() + b"\n" for o in objects]


def test_an_auditevent_becomes_a_journal_event_with_ids_and_codes_only():
    pseudonyms = Pseudonyms(KEY)
    parsed = parse(lines(audit_event()), Format.AUDITEVENT, pseudonyms)
    assert parsed.problems == []
    [(number, event)] = parsed.events
    assert number == 1
    assert set(event) == FIELDS
    assert event["time"] == datetime(2026, 11, 23, 9, 4, 5, 123000, tzinfo=UTC)
    assert (event["action"], event["module"], event["subject"], event["verb"]) == (
        "import:read:read",
        "import",
        "read",
        "read",
    )
    assert (event["actor_kind"], event["actor_id"]) == ("account", "Practitioner/p1")
    assert (event["source_ip"], event["session_id"], event["purpose"]) == (
        "198.51.100.7",
        "s-42",
        "TREAT",
    )
    assert (event["outcome"], event["decision"]) == ("denied", "deny")
    assert event["patient_id"] == [
        pseudonyms.patient("Patient/42"),
        pseudonyms.patient("urn:oid:1.2.250.1.213.1.4.8|185"),
    ]
    assert event["patient_count"] == 2
    assert event["resource_id"] == ["DocumentReference/d9"]
    text = json.dumps(event, default=str)
    for leaked in (*NAMES, "Patient/42", "185", "Curie"):
        assert leaked not in text


@pytest.mark.parametrize(
    ("outcome", "action", "expected"),
    [
        ("0", "C", ("success", "allow", "create")),
        ("8", "U", ("failed", None, "update")),
        ("12", "D", ("failed", None, "delete")),
        ("4", "E", ("denied", "deny", "execute")),
        (None, None, (None, None, "unknown")),
    ],
)
def test_auditevent_outcomes_and_actions_map_to_the_journals(outcome, action, expected):
    changes = {"outcome": outcome, "action": action, "subtype": []}
    parsed = parse(lines(audit_event(**changes)), Format.AUDITEVENT, Pseudonyms(KEY))
    [(_, event)] = parsed.events
    assert (event["outcome"], event["decision"], event["verb"]) == expected
    assert event["subject"] == "110110"  # no subtype: the type's code


def test_a_patient_acting_is_named_by_a_hash_only():
    pseudonyms = Pseudonyms(KEY)
    agent = {"who": {"reference": "Patient/42", "display": "Marie Curie"}, "requestor": True}
    [(_, event)] = parse(lines(audit_event(agent=[agent])), Format.AUDITEVENT, pseudonyms).events
    assert event["actor_kind"] == "patient"
    assert event["actor_id"] == pseudonyms.patient("Patient/42")


def test_bad_auditevent_lines_are_reported_by_number_with_a_reason():
    bad = lines(
        audit_event(),
        "",
        "{not json",
        {"resourceType": "Patient", "id": "42"},
        audit_event(recorded=None),
        audit_event(recorded="yesterday"),
        audit_event(action="X"),
        audit_event(type=None, subtype=None),
        [1, 2],
    )
    parsed = parse(
        [*bad, b"\xff\xfe\n"],
        Format.AUDITEVENT,
        Pseudonyms(KEY),
    )
    assert [n for n, _ in parsed.events] == [1]
    assert [n for n, _ in parsed.problems] == [3, 4, 5, 6, 7, 8, 9, 10]
    reasons = dict(parsed.problems)
    assert reasons[4] == "it is not a FHIR AuditEvent (resourceType)"
    assert reasons[5] == "its AuditEvent has no recorded time"
    assert reasons[6] == "its time is not an ISO 8601 date and time"
    assert reasons[10] == "it is not UTF-8 text"
    for reason in reasons.values():
        assert "42" not in reason and not reason.endswith(".")


CSV = (
    "when,user,patients,action,name,comment,outcome\n"
    "2026-11-23T10:00:00,u1,A1;A2,records:patient:read,Marie Curie,Rue des Lilas,denied\n"
    '2026-11-23T11:00:00+02:00,u2,"B1",records:record:read,"Jean\nDupont",,success\n'
    "\n"
    "yesterday,u1,A1,records:patient:read,x,y,denied\n"
    "2026-11-23T12:00:00,u1\n"
)


def test_csv_columns_are_mapped_passed_through_or_dropped():
    pseudonyms = Pseudonyms(KEY)
    mapping = parse_mapping(["when=time", "user=actor_id", "patients=patient_id"])
    parsed = parse(io.BytesIO(CSV.encode()), Format.CSV, pseudonyms, mapping)
    assert [n for n, _ in parsed.events] == [2, 3]
    assert parsed.problems == [
        (6, "its time is not an ISO 8601 date and time"),
        (7, "it has 2 cells, not 7"),
    ]
    first, second = (event for _, event in parsed.events)
    assert first["time"] == datetime(2026, 11, 23, 10, tzinfo=UTC)  # no offset: UTC
    assert second["time"] == datetime(2026, 11, 23, 9, tzinfo=UTC)
    assert (first["actor_id"], first["action"], first["outcome"]) == (
        "u1",
        "records:patient:read",
        "denied",
    )
    assert first["patient_id"] == [pseudonyms.patient("A1"), pseudonyms.patient("A2")]
    assert first["patient_count"] == 2 and second["subject"] == "record"
    assert set(first) == FIELDS
    text = json.dumps([e for _, e in parsed.events], default=str)
    for leaked in (*NAMES, "Jean", "A1", "B1"):
        assert leaked not in text


def test_jsonl_keys_are_mapped_by_dotted_paths():
    pseudonyms = Pseudonyms(KEY)
    mapping = parse_mapping(["at=time", "who.id=actor_id", "about.patient=patient_id"])
    line = {
        "at": "2026-11-23T10:00:00Z",
        "who": {"id": "u7", "name": "Dr Jean Dupont"},
        "about": {"patient": ["P1", "P1", "P2"]},
        "source_ip": "203.0.113.9",
        "patient_count": 99,  # derived from patient_id when it is given
        "note": "Marie Curie",
    }
    parsed = parse(
        lines(line, {"at": "2026-11-23"}, {"who": {"id": "u8"}}, {"at": "x", "decision": []}),
        Format.JSONL,
        pseudonyms,
        mapping,
    )
    [(_, event), (_, dated)] = parsed.events
    assert (event["actor_id"], event["source_ip"], event["patient_count"]) == (
        "u7",
        "203.0.113.9",
        2,
    )
    assert event["patient_id"] == [pseudonyms.patient("P1"), pseudonyms.patient("P2")]
    assert dated["time"] == datetime(2026, 11, 23, tzinfo=UTC)
    assert parsed.problems == [
        (3, "it has no time"),
        (4, "its time is not an ISO 8601 date and time"),
    ]
    assert "Marie" not in json.dumps(event, default=str)


def test_jsonl_lines_that_are_not_strict_json_are_reported_and_the_rest_kept():
    good = {"time": "2026-11-23T10:00:00Z", "actor_id": "u1"}
    parsed = parse(
        lines(
            good,
            '{"time": "2026-11-23T10:00:00Z", "n": NaN}',
            "[" * 100_000 + "]" * 100_000,  # the standard library's parser overflows here
            '{"time": "2026-11-23T10:00:00Z", "actor_id": "\\ud800"}',
            '{"time": "2026-11-23T10:00:00Z", "actor_id": "u1"} trailing',
            good,
        ),
        Format.JSONL,
        Pseudonyms(KEY),
    )
    assert [n for n, _ in parsed.events] == [1, 6]
    assert parsed.problems == [(n, "it is not valid JSON") for n in (2, 3, 4, 5)]


def test_jsonl_ids_given_as_large_numbers_are_kept_exact():
    pseudonyms = Pseudonyms(KEY)
    big = 123456789012345678901234  # beyond 64 bits
    parsed = parse(
        lines(
            {"time": "2026-11-23T10:00:00Z", "actor_id": big, "patient_id": big},
            '{"time": "2026-11-23T10:00:00Z", "actor_id": 12345678901234567890, "n": NaN}',
            "[" * 100_000 + "1234567890123456789" + "]" * 100_000,
            '{"time": "2026-11-23T10:00:00Z", "n": 12345678901234567890, "patient_id": "\\ud800"}',
        ),
        Format.JSONL,
        pseudonyms,
    )
    [(_, event)] = parsed.events
    assert event["actor_id"] == str(big)
    assert event["patient_id"] == [pseudonyms.patient(str(big))]
    assert parsed.problems == [(n, "it is not valid JSON") for n in (2, 3, 4)]


def test_a_time_with_an_offset_is_kept_as_that_moment():
    zone = timezone(timedelta(hours=-5))
    [(_, event)] = parse(
        lines({"time": "2026-11-23T05:00:00-05:00"}), Format.JSONL, Pseudonyms(KEY)
    ).events
    assert event["time"] == datetime(2026, 11, 23, 5, tzinfo=zone)


def test_patient_ids_hash_under_the_key_and_never_as_given():
    one, other = Pseudonyms(KEY), Pseudonyms(b"o" * 32)
    assert one.patient("P1") == one.patient(" P1 ") != other.patient("P1")
    assert len(one.patient("P1")) == 64 and "P1" not in one.patient("P1")
    assert Pseudonyms.throwaway().patient("P1") != Pseudonyms.throwaway().patient("P1")


@pytest.mark.parametrize(
    ("specs", "said"),
    [
        (["time"], "field=journal_field"),
        (["x=name"], "not a journal field"),
        (["a=time", "b=time"], "Two fields"),
        (["x=seq"], "not a journal field"),
    ],
)
def test_a_bad_mapping_is_refused_in_one_sentence(specs, said):
    with pytest.raises(FormatError, match=said):
        parse_mapping(specs)


def test_a_csv_mapping_must_name_columns_of_the_header():
    with pytest.raises(FormatError, match="'who' named in --map is not in the header"):
        parse(io.BytesIO(CSV.encode()), Format.CSV, Pseudonyms(KEY), {"who": "actor_id"})


def test_progress_is_told_line_by_line():
    seen: list[int] = []
    parse(io.BytesIO(CSV.encode()), Format.CSV, Pseudonyms(KEY), {"when": "time"}, seen.append)
    assert sum(seen) == CSV.count("\n")
    seen.clear()
    parse(lines({"time": "2026-11-23"}, ""), Format.JSONL, Pseudonyms(KEY), on_line=seen.append)
    assert sum(seen) == 2
