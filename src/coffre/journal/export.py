"""Journal entries for auditors' tools: FHIR R4 AuditEvents (IHE BALP) and CSV.

Pure functions: no database, no I/O beyond writing to the stream given.

Each entry becomes one AuditEvent following the IHE Basic Audit Log Patterns
(https://profiles.ihe.net/ITI/BALP/, profiles as of BALP 1.1.x):

    read (patient, document, history)  IHE.BasicAudit.[Patient]Read    rest/read         R
    search                              IHE.BasicAudit.[Patient]Query   rest/search-type  E
    create, import, entry/document      IHE.BasicAudit.[Patient]Create  rest/create       C
    kek rotation; identity changes      IHE.BasicAudit.[Patient]Update  rest/update       U
    erasure, data-key destruction       IHE.BasicAudit.[Patient]Delete  rest/delete       D
    export                              IHE.BasicAudit.PrivacyDisclosure.Source
                                          DCM 110106 Export / iso-21089-lifecycle disclose  R
    journal export (audit)              no BALP profile: DCM 110106 Export, R
    login, logout                       no BALP profile: DCM 110114 User Authentication with
                                          110122 Login / 110123 Logout, E (as FHIR core's
                                          audit-event-example-login/-logout)

The Patient… variant when the entry names patients, else the plain one (one event per entry,
however many patients, so each event maps back to one seq). BALP profiles fix `outcome` 0:
denied and failed entries follow the pattern but claim no profile. Coffre never journals
search terms, so a Query has no `entity[query]` (BALP volume 1: best effort). Subtypes also
carry the Coffre action (urn:coffre:action), so nothing is lost.

Agents: the actor (requestor; kind in `role`, session in `policy` where BALP puts a SAML ID
or OAuth jti), the client it came from (`source`, in `network`), the server (the observer)
and its organisation if known (v3-RoleClass PROV, BALP's `userorg`). Entities: patients
(Person/Patient), resources (System Object/Domain Resource) and the journal entry itself
(urn:coffre:journal = seq; decision, rule and explanation in `detail`).
"""

from __future__ import annotations

import base64
import csv
import ipaddress
import json
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import quote

from coffre.identity import ActorKind
from coffre.journal.balp import (
    _ACTOR,
    _APP_SERVER,
    _DOMAIN_RESOURCE,
    _OTHER,
    _OUTCOMES,
    _PATIENT,
    _PATTERNS,
    _PERSON,
    _PROVIDER,
    _PURPOSES,
    _QUERY,
    _REST,
    _SOURCE_ID,
    _SYSTEM_OBJECT,
    ACT_REASON,
    BALP,
    DCM,
    RESTFUL,
    THO,
    Code,
    Progress,
    _Pattern,
)
from coffre.journal.entries import EventKind, Record

if TYPE_CHECKING:
    from pydantic import BaseModel

# The codes this module relies on, as published (bindings fhir.resources does not check).
_VALID: dict[str, set[str]] = {
    DCM: {"110106", "110114", "110122", "110123", "110150", "110152", "110153"},
    RESTFUL: {"read", "search-type", "create", "update", "delete"},
    THO + "audit-event-type": {"rest"},
    THO + "iso-21089-lifecycle": {"disclose"},
    THO + "v3-ParticipationType": {"IRCP", "AUT", "CST"},
    THO + "extra-security-role-type": {"humanuser"},
    THO + "provenance-participant-type": {"custodian"},
    THO + "v3-RoleClass": {"PROV"},
    THO + "audit-entity-type": {"1", "2", "4"},
    THO + "object-role": {"1", "4", "24"},
    THO + "security-source-type": {"4"},
    ACT_REASON: {
        "TREAT",
        "PATRQT",
        "RECORDMGT",
        "HSYSADMIN",
        "HTEST",
        "HCOMPL",
        "ETREAT",
        "COVERAGE",
        "HOPERAT",
    },
    "urn:coffre:action": {kind.value for kind in EventKind},
    "urn:coffre:purpose": {str(purpose) for purpose in _PURPOSES},
    "urn:coffre:actor-kind": {kind.value for kind in ActorKind},
}
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_TEXT = re.compile(r"[ \r\n\t\S]")  # a FHIR string needs one such character (else left out)
_HOST = re.compile(r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}")


def _coding(code: Code) -> dict[str, str]:
    return {"system": code[0], "code": code[1], "display": code[2]}


def _identifier(system: str, value: str) -> dict[str, str]:
    return {"system": system, "value": value} if _TEXT.search(value) else {"system": system}


def _network(text: str) -> dict[str, str] | None:
    """Where an agent was: an IP address (type 2), a DNS name (1), else the text untyped."""
    host = text.rpartition("@")[2]  # cli@host
    try:
        ipaddress.ip_address(host)
        return {"address": host, "type": "2"}
    except ValueError:
        pass
    if _HOST.fullmatch(host):
        return {"address": host, "type": "1"}
    return {"address": text} if _TEXT.search(text) else None


def _agent(type_: Code, who: dict[str, Any], requestor: bool = False) -> dict[str, Any]:
    return {"type": {"coding": [_coding(type_)]}, "who": who, "requestor": requestor}


def _agents(record: Record, pattern: _Pattern, observer: str) -> list[dict[str, Any]]:
    user = _agent(pattern.user, {"identifier": _identifier(_ACTOR, record.actor_id)}, True)
    user["role"] = [{"coding": [{"system": _ACTOR + "-kind", "code": record.actor_kind}]}]
    if record.session_id is not None:  # as BALP records a SAML ID or an OAuth jti
        user["policy"] = ["urn:coffre:session:" + quote(record.session_id, safe="")]
    client = _agent(pattern.client, {"identifier": _identifier(_SOURCE_ID, record.source)})
    server = _agent(pattern.server, {"display": observer})
    for agent, where in ((client, record.source), (server, observer)):
        if network := _network(where):
            agent["network"] = network
    agents = [user, client, server]
    if record.organisation_id is not None:
        who = {"identifier": _identifier("urn:coffre:organisation", record.organisation_id)}
        agents.append(_agent(_PROVIDER, who))
    return agents


def _entity(what: dict[str, Any], type_: Code, role: Code) -> dict[str, Any]:
    return {"what": what, "type": _coding(type_), "role": _coding(role)}


def _patient(patient_id: str) -> dict[str, Any]:
    if _FHIR_ID.fullmatch(patient_id):
        return {"reference": f"Patient/{patient_id}"}
    return {"type": "Patient", "identifier": _identifier("urn:coffre:patient", patient_id)}


def _entities(record: Record, pattern: _Pattern) -> list[dict[str, Any]]:
    entities = [_entity(_patient(p), _PERSON, _PATIENT) for p in record.patient_ids]
    # BALP wants the object read, created, … as a data entity: a patient's own record.
    wants_data = pattern.type == _REST and pattern.action != "E"
    own = record.action.split(":")[1] == "patient" and len(record.patient_ids) == 1
    if wants_data and own and not record.resource_ids:
        patient = _patient(record.patient_ids[0])
        entities.append(_entity(patient, _SYSTEM_OBJECT, _DOMAIN_RESOURCE))
    for resource_id in record.resource_ids:
        if pattern.terms:  # BALP's query entity: the term in base64 and as text
            term = {"type": _coding(_SYSTEM_OBJECT), "role": _coding(_QUERY)}
            if _TEXT.search(resource_id):
                query = base64.b64encode(resource_id.encode()).decode()
                term |= {"query": query, "description": resource_id}
            entities.append(term)
        else:
            what = {"identifier": _identifier("urn:coffre:resource", resource_id)}
            entities.append(_entity(what, _SYSTEM_OBJECT, _DOMAIN_RESOURCE))
    journal: dict[str, Any] = {
        "what": {"identifier": {"system": "urn:coffre:journal", "value": str(record.seq)}},
        "type": _coding(_OTHER),
        "name": f"Coffre journal entry {record.seq}",
    }
    details = {"decision": record.decision, "rule": record.rule, "explanation": record.explanation}
    if detail := [{"type": k, "valueString": v} for k, v in details.items() if _TEXT.search(v)]:
        journal["detail"] = detail
    return [*entities, journal]


def _check_codes(node: Any) -> None:
    """Every coding is from a known system, with a code published there."""
    if isinstance(node, list):
        for item in node:
            _check_codes(item)
    elif isinstance(node, dict):
        if "code" in node and node["code"] not in _VALID.get(node.get("system", ""), ()):
            raise ValueError(f"unexpected code {node['code']!r} of {node.get('system')}")
        for value in node.values():
            _check_codes(value)


def _check(record: Record, observer: str) -> None:
    """The fields the mapping relies on hold known values (raises ValueError)."""
    valid = {
        f"action {record.action!r}": record.action in _PATTERNS,
        f"outcome {record.outcome!r}": record.outcome in _OUTCOMES,
        f"decision {record.decision!r}": record.decision in ("allow", "deny"),
        f"purpose {record.purpose!r}": record.purpose is None or record.purpose in _PURPOSES,
        f"actor kind {record.actor_kind!r}": record.actor_kind in set(ActorKind),
        f"time {record.time!r}": bool(_TIME.fullmatch(record.time)),
        f"seq {record.seq!r}": record.seq >= 0,
        "empty observer": bool(observer.strip()),
    }
    if problems := [what for what, ok in valid.items() if not ok]:
        raise ValueError(f"journal entry {record.seq}: unexpected {', '.join(problems)}")


def _audit_event_model() -> type[BaseModel]:
    """fhir.resources' AuditEvent, imported when first needed (the models take a few
    tenths of a second to import, which every command would otherwise pay)."""
    from fhir.resources.R4B.auditevent import AuditEvent

    return AuditEvent


def to_audit_event(record: Record, *, observer: str) -> dict[str, Any]:
    """The entry as a FHIR R4 AuditEvent (JSON-ready dict), validated; raise ValueError."""
    _check(record, observer)
    pattern = _PATTERNS[record.action]
    outcome = _OUTCOMES[record.outcome]
    event: dict[str, Any] = {"resourceType": "AuditEvent", "id": f"journal-{record.seq}"}
    profile = pattern.profiles[1 if record.patient_ids else 0]
    if profile is not None and outcome == "0":  # BALP profiles fix outcome 0 (success)
        event["meta"] = {"profile": [BALP + profile]}
    event["type"] = _coding(pattern.type)
    coffre = {"system": "urn:coffre:action", "code": record.action}
    event["subtype"] = [*map(_coding, pattern.subtypes), coffre]
    event["action"] = pattern.action
    event["recorded"] = record.time
    event["outcome"] = outcome
    if outcome != "0":
        why = ": ".join(text for text in (record.rule, record.explanation) if _TEXT.search(text))
        event["outcomeDesc"] = why or record.outcome
    if record.purpose is not None:
        codings = [{"system": "urn:coffre:purpose", "code": record.purpose}]
        if reason := _PURPOSES[record.purpose]:
            codings.insert(0, {"system": ACT_REASON, "code": reason[0], "display": reason[1]})
        event["purposeOfEvent"] = [{"coding": codings}]
    event["agent"] = _agents(record, pattern, observer)
    event["source"] = {"observer": {"display": observer}, "type": [_coding(_APP_SERVER)]}
    event["entity"] = _entities(record, pattern)
    try:
        _check_codes(event)
        _audit_event_model().model_validate(event)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise ValueError(f"journal entry {record.seq}: not a valid AuditEvent: {exc}") from None
    return event


def write_ndjson(
    records: Iterable[Record], out: TextIO, *, observer: str, progress: Progress = None
) -> int:
    """Write one compact AuditEvent JSON per line (UTF-8 text); return how many."""
    count = 0
    for record in records:
        event = to_audit_event(record, observer=observer)
        out.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")
        count += 1
        if progress is not None:
            progress(count)
    return count


_COLUMNS = "seq time actor_kind actor_id organisation_id session_id source action purpose"
CSV_HEADER = tuple(f"{_COLUMNS} patient_ids resource_ids decision rule explanation outcome".split())
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    """The value as text a spreadsheet will not run as a formula (OWASP CSV injection)."""
    text = " ".join(value) if isinstance(value, tuple) else "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def write_csv(records: Iterable[Record], out: TextIO, progress: Progress = None) -> int:
    """Write a header and one row per entry (open `out` with newline=""); return how many."""
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    count = 0
    for record in records:
        writer.writerow([_cell(getattr(record, name)) for name in CSV_HEADER])
        count += 1
        if progress is not None:
            progress(count)
    return count
