"""Journal export: entries as IHE BALP AuditEvents (NDJSON) and as CSV for spreadsheets."""

from __future__ import annotations

import base64
import csv
import io
import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from fhir.resources.R4B.auditevent import AuditEvent
from hypothesis import given, settings
from hypothesis import strategies as st

from coffre.access import Purpose
from coffre.identity import ActorKind
from coffre.journal.entries import EventKind, Outcome, Record, timestamp
from coffre.journal.export import CSV_HEADER, to_audit_event, write_csv, write_ndjson

BALP = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit."
DCM = "http://dicom.nema.org/resources/ontology/DCM"
REST = ("http://terminology.hl7.org/CodeSystem/audit-event-type", "rest")
RESTFUL = "http://hl7.org/fhir/restful-interaction"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
PATIENT_ID = "0b7e3c1e-1111-4222-8333-444455556666"
OBSERVER = "coffre.example.org"


def make(action: str = EventKind.PATIENT_READ, **changes: object) -> Record:
    record = Record(
        seq=42,
        time="2026-11-23T05:23:14.123456Z",
        actor_kind="operator",
        actor_id="operator:ana@host",
        organisation_id="org-1",
        session_id=None,
        source="cli@host",
        action=action,
        purpose="subject-access",
        patient_ids=(PATIENT_ID,),
        resource_ids=(),
        decision="allow",
        rule="operator-subject-access-read",
        explanation="the local operator may read a patient's data",
        outcome="success",
    )
    return replace(record, **changes)


def export(record: Record) -> dict:
    event = to_audit_event(record, observer=OBSERVER)
    AuditEvent.model_validate(event)  # R4B model of the same AuditEvent as R4
    json.loads(json.dumps(event))
    return event


# action -> (profile with patients, profile without, type, subtype, action code)
READ = ("PatientRead", "Read", REST, (RESTFUL, "read"), "R")
CREATE = ("PatientCreate", "Create", REST, (RESTFUL, "create"), "C")
UPDATE = ("PatientUpdate", "Update", REST, (RESTFUL, "update"), "U")
EXPECTED = {
    EventKind.PATIENT_READ: ("PatientRead", "Read", REST, (RESTFUL, "read"), "R"),
    EventKind.PATIENT_UPDATE: UPDATE,
    EventKind.RECORD_READ: READ,
    EventKind.MEMBER_ENROL: CREATE,
    EventKind.ELIGIBILITY_READ: READ,
    EventKind.USAGE_READ: READ,
    EventKind.CONSENT_UPDATE: UPDATE,
    EventKind.RELATIONSHIP_CREATE: CREATE,
    EventKind.RELATIONSHIP_END: UPDATE,
    EventKind.RELATIONSHIP_LIST: READ,
    EventKind.CONSENT_READ: READ,
    EventKind.EXCLUSION_UPDATE: UPDATE,
    EventKind.MASK_UPDATE: UPDATE,
    EventKind.BREAK_GLASS: CREATE,
    EventKind.SESSION_END: UPDATE,
    EventKind.MFA_UPDATE: UPDATE,
    EventKind.PASSWORD_UPDATE: UPDATE,
    EventKind.ACCOUNT_SUSPEND: UPDATE,
    EventKind.ACCOUNT_RESUME: UPDATE,
    EventKind.ACCOUNT_UPDATE: UPDATE,
    EventKind.ACCOUNT_CREATE: CREATE,
    EventKind.SIGN_UP_REQUEST: ("PatientQuery", "Query", REST, (RESTFUL, "search-type"), "E"),
    EventKind.CLIENT_CREATE: CREATE,
    EventKind.CLIENT_UPDATE: UPDATE,
    EventKind.CLIENT_CEILING: READ,
    EventKind.TOKEN_CREATE: CREATE,
    EventKind.TOKEN_UPDATE: UPDATE,
    EventKind.ORGANISATION_CREATE: CREATE,
    EventKind.TEAM_CREATE: CREATE,
    EventKind.TEAM_UPDATE: UPDATE,
    EventKind.MATRIX_UPDATE: UPDATE,
    EventKind.CONTRACT_CREATE: CREATE,
    EventKind.CONTRACT_UPDATE: UPDATE,
    EventKind.ALERT_CREATE: CREATE,
    EventKind.ALERT_UPDATE: UPDATE,
    EventKind.ALERT_READ: READ,
    EventKind.IMPORT_CREATE: CREATE,
    EventKind.GUARD_STOP: READ,
    EventKind.PATIENT_FLAG: UPDATE,
    EventKind.DOCUMENT_READ: ("PatientRead", "Read", REST, (RESTFUL, "read"), "R"),
    EventKind.HISTORY_READ: ("PatientRead", "Read", REST, (RESTFUL, "read"), "R"),
    EventKind.PATIENT_SEARCH: ("PatientQuery", "Query", REST, (RESTFUL, "search-type"), "E"),
    EventKind.PATIENT_CREATE: ("PatientCreate", "Create", REST, (RESTFUL, "create"), "C"),
    EventKind.PATIENT_IMPORT: ("PatientCreate", "Create", REST, (RESTFUL, "create"), "C"),
    EventKind.ENTRY_CREATE: ("PatientCreate", "Create", REST, (RESTFUL, "create"), "C"),
    EventKind.DOCUMENT_CREATE: ("PatientCreate", "Create", REST, (RESTFUL, "create"), "C"),
    EventKind.KEY_ROTATE: ("PatientUpdate", "Update", REST, (RESTFUL, "update"), "U"),
    EventKind.PATIENT_ERASE: ("PatientDelete", "Delete", REST, (RESTFUL, "delete"), "D"),
    EventKind.KEY_RECONCILE: ("PatientDelete", "Delete", REST, (RESTFUL, "delete"), "D"),
    EventKind.PATIENT_EXPORT: (
        "PrivacyDisclosure.Source",
        None,
        (DCM, "110106"),
        ("http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle", "disclose"),
        "R",
    ),
    EventKind.JOURNAL_EXPORT: (
        None,
        None,
        (DCM, "110106"),
        ("urn:coffre:action", EventKind.JOURNAL_EXPORT.value),
        "R",
    ),
    EventKind.LOGIN: (None, None, (DCM, "110114"), (DCM, "110122"), "E"),
    EventKind.LOGOUT: (None, None, (DCM, "110114"), (DCM, "110123"), "E"),
}


def codes(codings: list[dict]) -> list[tuple[str, str]]:
    return [(c["system"], c["code"]) for c in codings]


def test_every_action_kind_has_an_expectation():
    assert set(EXPECTED) == set(EventKind)


@pytest.mark.parametrize("kind", list(EventKind))
def test_each_action_kind_maps_to_its_balp_pattern(kind):
    with_patients, without, event_type, subtype, action = EXPECTED[kind]
    event = export(make(kind))

    assert event["resourceType"] == "AuditEvent"
    assert event["id"] == "journal-42"
    if with_patients is None:
        assert "meta" not in event
    else:
        assert event["meta"]["profile"] == [BALP + with_patients]
    assert (event["type"]["system"], event["type"]["code"]) == event_type
    assert codes(event["subtype"])[0] == subtype
    assert ("urn:coffre:action", kind.value) in codes(event["subtype"])
    assert event["action"] == action
    assert event["recorded"] == "2026-11-23T05:23:14.123456Z"
    assert event["outcome"] == "0"
    assert "outcomeDesc" not in event

    patients = [e for e in event["entity"] if e.get("role", {}).get("code") == "1"]
    assert patients == [
        {
            "what": {"reference": f"Patient/{PATIENT_ID}"},
            "type": {
                "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                "code": "1",
                "display": "Person",
            },
            "role": {
                "system": "http://terminology.hl7.org/CodeSystem/object-role",
                "code": "1",
                "display": "Patient",
            },
        }
    ]

    without_patients = export(make(kind, patient_ids=()))
    if without is None:
        assert "meta" not in without_patients
    else:
        assert without_patients["meta"]["profile"] == [BALP + without]
    assert not any(e.get("role", {}).get("code") == "1" for e in without_patients["entity"])


@pytest.mark.parametrize(
    ("outcome", "code"), [(Outcome.SUCCESS, "0"), (Outcome.DENIED, "4"), (Outcome.FAILED, "8")]
)
@pytest.mark.parametrize("kind", list(EventKind))
def test_outcomes_map_and_only_successes_claim_a_balp_profile(kind, outcome, code):
    record = make(kind, outcome=outcome, decision="allow" if code == "0" else "deny")
    event = export(record)

    assert event["outcome"] == code
    if code == "0":
        assert "outcomeDesc" not in event
    else:
        assert event["outcomeDesc"] == f"{record.rule}: {record.explanation}"
        assert "meta" not in event  # BALP profiles fix outcome 0
    journal = event["entity"][-1]
    assert journal["what"]["identifier"] == {"system": "urn:coffre:journal", "value": "42"}
    details = {d["type"]: d["valueString"] for d in journal["detail"]}
    assert details == {
        "decision": record.decision,
        "rule": record.rule,
        "explanation": record.explanation,
    }


def test_an_outcome_without_rule_or_explanation_still_says_what_happened():
    event = export(make(outcome="failed", rule="", explanation=""))
    assert event["outcomeDesc"] == "failed"
    assert "detail" in event["entity"][-1]  # the decision at least


def test_text_a_fhir_string_cannot_hold_is_left_out():
    event = export(make(outcome="denied", rule="\u3000", explanation="\x85", actor_id=""))
    assert event["outcomeDesc"] == "denied"
    assert event["entity"][-1]["detail"] == [{"type": "decision", "valueString": "allow"}]
    assert event["agent"][0]["who"]["identifier"] == {"system": "urn:coffre:actor"}


PURPOSES = {
    Purpose.CARE: "TREAT",
    Purpose.SUBJECT_ACCESS: "PATRQT",
    Purpose.ERASURE: "RECORDMGT",
    Purpose.IMPORT: "RECORDMGT",
    Purpose.IDENTIFICATION: None,
    Purpose.KEY_MANAGEMENT: "HSYSADMIN",
    Purpose.DEMO: "HTEST",
    Purpose.AUDIT: "HCOMPL",
    Purpose.PATIENT_REQUEST: "PATRQT",
    Purpose.BREAK_GLASS: "ETREAT",
    Purpose.INSURANCE: "COVERAGE",
    Purpose.CONTRACT: "HOPERAT",
    Purpose.SECURITY: "HSYSADMIN",
}


def test_every_purpose_has_an_expectation():
    assert set(PURPOSES) == set(Purpose)


@pytest.mark.parametrize("purpose", list(Purpose))
def test_purposes_map_to_act_reason_and_keep_the_coffre_code(purpose):
    event = export(make(purpose=purpose.value))
    [concept] = event["purposeOfEvent"]
    expected = [("urn:coffre:purpose", purpose.value)]
    if PURPOSES[purpose] is not None:
        expected.insert(0, (ACT_REASON, PURPOSES[purpose]))
    assert codes(concept["coding"]) == expected


def test_no_purpose_no_purpose_of_event():
    assert "purposeOfEvent" not in export(make(purpose=None))


def test_agents_name_the_actor_its_session_organisation_client_and_server():
    event = export(make(session_id="sess 1/2", source="203.0.113.5"))
    user, client, server, organisation = event["agent"]

    assert user["requestor"] is True
    assert user["who"]["identifier"] == {"system": "urn:coffre:actor", "value": "operator:ana@host"}
    assert codes(user["type"]["coding"]) == [
        ("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "IRCP")
    ]
    assert codes(user["role"][0]["coding"]) == [("urn:coffre:actor-kind", "operator")]
    assert user["policy"] == ["urn:coffre:session:sess%201%2F2"]
    assert "network" not in user  # BALP: users are not network devices

    assert client["requestor"] is False
    assert client["who"]["identifier"] == {"system": "urn:coffre:source", "value": "203.0.113.5"}
    assert client["network"] == {"address": "203.0.113.5", "type": "2"}
    assert codes(client["type"]["coding"]) == [(DCM, "110152")]  # BALP Read: client = 110152

    assert server["who"] == {"display": OBSERVER} == event["source"]["observer"]
    assert server["network"] == {"address": OBSERVER, "type": "1"}
    assert codes(event["source"]["type"]) == [
        ("http://terminology.hl7.org/CodeSystem/security-source-type", "4")
    ]

    assert organisation["who"]["identifier"] == {
        "system": "urn:coffre:organisation",
        "value": "org-1",
    }
    assert codes(organisation["type"]["coding"]) == [
        ("http://terminology.hl7.org/CodeSystem/v3-RoleClass", "PROV")
    ]


@pytest.mark.parametrize(
    ("source", "network"),
    [
        ("cli@host", {"address": "cli@host"}),
        ("cli@db.example.org", {"address": "db.example.org", "type": "1"}),
        ("web@2001:db8::1", {"address": "2001:db8::1", "type": "2"}),
        ("local", {"address": "local"}),
    ],
)
def test_the_client_network_is_typed_only_when_it_is_an_address_or_a_dns_name(source, network):
    assert export(make(source=source))["agent"][1]["network"] == network


def test_without_organisation_or_session_those_are_left_out():
    user, *others = export(make(organisation_id=None))["agent"]
    assert "policy" not in user
    assert len(others) == 2


def test_resources_and_a_patient_that_is_no_fhir_id_are_identifiers():
    event = export(make(EventKind.PATIENT_EXPORT, patient_ids=("a b",), resource_ids=("r1", "r2")))
    patient, *resources, journal = event["entity"]
    assert patient["what"] == {
        "type": "Patient",
        "identifier": {"system": "urn:coffre:patient", "value": "a b"},
    }
    assert [r["what"]["identifier"]["value"] for r in resources] == ["r1", "r2"]
    assert {(r["type"]["code"], r["role"]["code"]) for r in resources} == {("2", "4")}
    assert journal["name"] == "Coffre journal entry 42"
    # BALP PrivacyDisclosure.Source: the source agent (110153) is the observer itself
    [source] = [a for a in event["agent"] if codes(a["type"]["coding"]) == [(DCM, "110153")]]
    assert source["who"] == event["source"]["observer"]


def test_a_journal_export_records_its_scope_as_query_entities():
    record = make(
        EventKind.JOURNAL_EXPORT,
        purpose="audit",
        resource_ids=("since:2026-01-01", f"patient:{PATIENT_ID}", ""),
    )
    patient, since, scoped, empty, _journal = export(record)["entity"]
    assert patient["role"]["code"] == "1"
    assert since["description"] == "since:2026-01-01"
    assert base64.b64decode(since["query"]) == b"since:2026-01-01"
    assert {(e["type"]["code"], e["role"]["code"]) for e in (since, scoped, empty)} == {("2", "24")}
    assert "query" not in empty


@pytest.mark.parametrize(
    "changes",
    [
        {"action": "records:patient:juggle"},
        {"outcome": "maybe"},
        {"decision": "perhaps"},
        {"purpose": "curiosity"},
        {"actor_kind": "ghost"},
        {"time": "2026-11-23 05:23:14"},
        {"seq": -1},
    ],
)
def test_unknown_values_are_refused_with_a_clear_message(changes):
    with pytest.raises(ValueError, match="journal entry"):
        to_audit_event(make(**changes), observer=OBSERVER)


def test_an_observer_is_required():
    with pytest.raises(ValueError, match="observer"):
        to_audit_event(make(), observer=" ")


def test_ndjson_writes_one_valid_compact_event_per_line():
    records = [make(kind, seq=n) for n, kind in enumerate(EventKind)]
    out, seen = io.StringIO(), []

    count = write_ndjson(records, out, observer=OBSERVER, progress=seen.append)

    lines = out.getvalue().splitlines()
    assert count == len(records) == len(lines)
    assert seen == list(range(1, count + 1))
    assert out.getvalue().endswith("\n")
    for n, line in enumerate(lines):
        event = json.loads(line)
        assert json.dumps(event, ensure_ascii=False, separators=(",", ":")) == line  # compact
        AuditEvent.model_validate(event)
        assert event["id"] == f"journal-{n}"


def test_ndjson_of_nothing_is_empty():
    out = io.StringIO()
    assert write_ndjson([], out, observer=OBSERVER) == 0
    assert out.getvalue() == ""


def read_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def test_csv_round_trips_with_a_header_and_guards_against_formulas():
    plain = make(
        patient_ids=("p1", "p2"),
        resource_ids=("r1",),
        session_id=None,
        explanation='l\'opérateur peut lire — 患者, "cité"\nsur deux lignes',
    )
    hostile = make(
        seq=43,
        actor_id='=HYPERLINK("http://evil.example","x")',
        source="+1",
        rule="-2+3",
        explanation="@SUM(A1:A2)",
        organisation_id="\tTAB",
        session_id="\rCR",
    )
    out, seen = io.StringIO(newline=""), []

    assert write_csv([plain, hostile], out, progress=seen.append) == 2

    header, first, second = read_csv(out.getvalue())
    assert tuple(header) == CSV_HEADER
    assert header == [
        "seq", "time", "actor_kind", "actor_id", "organisation_id", "session_id", "source",
        "action", "purpose", "patient_ids", "resource_ids", "decision", "rule", "explanation",
        "outcome",
    ]  # fmt: skip
    assert seen == [1, 2]
    row = dict(zip(header, first, strict=True))
    assert row["seq"] == "42"
    assert row["patient_ids"] == "p1 p2"
    assert row["resource_ids"] == "r1"
    assert row["session_id"] == ""
    assert row["explanation"] == plain.explanation
    assert row["action"] == "records:patient:read"

    row = dict(zip(header, second, strict=True))
    assert row["actor_id"] == "'" + hostile.actor_id
    assert row["source"] == "'+1"
    assert row["rule"] == "'-2+3"
    assert row["explanation"] == "'@SUM(A1:A2)"
    assert row["organisation_id"] == "'\tTAB"
    assert row["session_id"] == "'\rCR"


def test_csv_non_ascii_survives_utf8_bytes(tmp_path):
    path = tmp_path / "journal.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        write_csv([make(explanation="Zoë’s dossier — 患者")], out)
    with path.open(encoding="utf-8", newline="") as back:
        rows = list(csv.reader(back))
    assert rows[1][CSV_HEADER.index("explanation")] == "Zoë’s dossier — 患者"


texts = st.text(max_size=40)
records = st.builds(
    Record,
    seq=st.integers(min_value=0, max_value=2**63 - 1),
    time=st.datetimes(min_value=datetime(2000, 1, 1), timezones=st.just(UTC)).map(timestamp),
    actor_kind=st.sampled_from([k.value for k in ActorKind]),
    actor_id=texts,
    organisation_id=st.none() | texts,
    session_id=st.none() | texts,
    source=texts,
    action=st.sampled_from([k.value for k in EventKind]),
    purpose=st.none() | st.sampled_from([p.value for p in Purpose]),
    patient_ids=st.lists(texts, max_size=3).map(tuple),
    resource_ids=st.lists(texts, max_size=3).map(tuple),
    decision=st.sampled_from(["allow", "deny"]),
    rule=texts,
    explanation=texts,
    outcome=st.sampled_from([o.value for o in Outcome]),
)


@settings(max_examples=300, deadline=None)
@given(record=records, observer=st.text(min_size=1, max_size=40).filter(str.strip))
def test_any_record_makes_a_valid_audit_event(record, observer):
    event = to_audit_event(record, observer=observer)

    AuditEvent.model_validate(json.loads(json.dumps(event, ensure_ascii=False)))
    assert event["id"] == f"journal-{record.seq}"
    assert event["entity"][-1]["what"]["identifier"]["value"] == str(record.seq)
    patients = [e for e in event["entity"] if e.get("role", {}).get("code") == "1"]
    assert len(patients) == len(record.patient_ids)
    assert ("meta" in event) <= (record.outcome == "success")


@settings(max_examples=200, deadline=None)
@given(record=records)
def test_any_record_round_trips_through_csv(record):
    out = io.StringIO(newline="")
    write_csv([record], out)
    header, row = read_csv(out.getvalue())
    for name, cell in zip(header, row, strict=True):
        value = getattr(record, name)
        text = " ".join(value) if isinstance(value, tuple) else "" if value is None else str(value)
        guarded = text[:1] in ("=", "+", "-", "@", "\t", "\r")
        assert cell == ("'" + text if guarded else text)


def test_times_from_the_journal_are_valid_instants():
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert export(make(time=timestamp(moment)))["recorded"] == "2026-01-02T03:04:05.000000Z"
