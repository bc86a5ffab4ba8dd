"""Journal entries, their event kinds and their canonical bytes (format version 1).

An entry's canonical bytes are the JSON object of docs/journal.md: keys sorted, no
whitespace, every non-ASCII character escaped, so the bytes are ASCII. They are what is
stored, hashed (RFC 6962 leaf: SHA-256(0x00 || bytes)) and shown in proofs. Entries name ids
only: never a name, an identifier in clear, or free text typed by a user.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson

from coffre.access import Decision, Purpose
from coffre.identity import Actor

ENTRY_VERSION = 1

# The C-accelerated string encoder json.dumps(ensure_ascii=True) uses: '"…"' with escapes.
_string = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]


def string_literal(text: str) -> str:
    """`text` as canonical bytes spell a text: '"…"', every non-ASCII character escaped."""
    return _string(text)  # type: ignore[no-any-return]


class EventKind(StrEnum):
    """`source:subject:action` names of what happened."""

    PATIENT_CREATE = "records:patient:create"
    PATIENT_SEARCH = "records:patient:search"
    PATIENT_READ = "records:patient:read"
    PATIENT_UPDATE = "records:patient:update"
    PATIENT_EXPORT = "records:patient:export"
    PATIENT_ERASE = "records:patient:erase"
    PATIENT_IMPORT = "records:patient:import"
    ENTRY_CREATE = "records:entry:create"
    DOCUMENT_CREATE = "records:document:create"
    DOCUMENT_READ = "records:document:read"
    RECORD_READ = "records:record:read"
    MEMBER_ENROL = "records:member:create"
    ELIGIBILITY_READ = "records:eligibility:read"
    USAGE_READ = "records:usage:read"
    PATIENT_FLAG = "records:flag:update"  # a record flagged vip or staff, or the flag cleared
    CONSENT_UPDATE = "access:consent:update"
    CONSENT_READ = "access:consent:read"  # the patient's sharing choices looked at
    RELATIONSHIP_CREATE = "access:relationship:create"
    RELATIONSHIP_END = "access:relationship:update"
    RELATIONSHIP_LIST = "access:relationship:read"
    EXCLUSION_UPDATE = "access:exclusion:update"
    MASK_UPDATE = "access:mask:update"
    BREAK_GLASS = "access:break-the-glass:create"
    HISTORY_READ = "journal:history:read"
    JOURNAL_EXPORT = "journal:log:export"
    KEY_ROTATE = "keys:kek:rotate"
    KEY_RECONCILE = "keys:data-key:destroy"
    LOGIN = "identity:session:login"
    LOGOUT = "identity:session:logout"
    SESSION_END = "identity:session:update"
    MFA_UPDATE = "identity:mfa:update"
    PASSWORD_UPDATE = "identity:password:update"  # noqa: S105 (an event name)
    ACCOUNT_CREATE = "identity:account:create"
    SIGN_UP_REQUEST = "identity:sign-up:request"  # a link asked for; sent or not
    ACCOUNT_SUSPEND = "identity:account:suspend"
    ACCOUNT_RESUME = "identity:account:resume"
    ACCOUNT_UPDATE = "identity:account:update"  # the holder's personal digests kept
    CLIENT_CREATE = "identity:client:create"
    CLIENT_UPDATE = "identity:client:update"  # revoked, suspended or resumed
    CLIENT_CEILING = "identity:client:ceiling"  # a request refused at a volume ceiling
    TOKEN_CREATE = "identity:token:create"  # noqa: S105 (an event name)
    TOKEN_UPDATE = "identity:token:update"  # noqa: S105 (an event name)
    ORGANISATION_CREATE = "identity:organisation:create"
    TEAM_CREATE = "identity:team:create"  # a care team formed, with its members
    TEAM_UPDATE = "identity:team:update"  # members added to or removed from a care team
    MATRIX_UPDATE = "access:matrix:update"  # an organisation's own matrix set or cleared
    CONTRACT_CREATE = "access:contract:create"  # a subcontractor's contract with a client
    CONTRACT_UPDATE = "access:contract:update"  # a contract ended before its term
    ALERT_CREATE = "watch:alert:create"  # a detection rule fired: an alert was opened
    ALERT_UPDATE = "watch:alert:update"  # an alert acknowledged or closed (or refused)
    ALERT_READ = "watch:alert:read"  # the officer's notes on an alert opened (or refused)
    IMPORT_CREATE = "watch:import:create"  # another system's audit log imported
    GUARD_STOP = "watch:guard:stop"  # a read refused past the actor's distinct-patient guard


class Outcome(StrEnum):
    SUCCESS = "success"
    DENIED = "denied"
    FAILED = "failed"


@dataclass(frozen=True)
class Entry:
    """An entry to append; its sequence number is given by the journal."""

    kind: EventKind
    actor: Actor
    decision: Decision
    outcome: Outcome
    purpose: Purpose | None = None
    patient_ids: tuple[str, ...] = ()
    resource_ids: tuple[str, ...] = ()
    recorded_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class Record:
    """An entry as stored: every field of its canonical bytes, decoded."""

    seq: int
    time: str
    actor_kind: str
    actor_id: str
    organisation_id: str | None
    session_id: str | None
    source: str
    action: str
    purpose: str | None
    patient_ids: tuple[str, ...]
    resource_ids: tuple[str, ...]
    decision: str
    rule: str
    explanation: str
    outcome: str
    facts: tuple[tuple[str, str], ...] = ()  # the decision's facts, sorted by name


# Each second as canonical bytes spell it, "YYYY-MM-DDTHH:MM:SS", by (year, …, second): the
# entries of a batch, and of a busy second, share it.
_SECONDS: dict[tuple[int, int, int, int, int, int], str] = {}


def timestamp(moment: datetime) -> str:
    """UTC, microseconds, 'Z': the one spelling of a time in canonical bytes (27 characters).
    A time without a zone is taken as UTC."""
    if moment.tzinfo is not None and moment.tzinfo is not UTC and moment.utcoffset():
        moment = moment.astimezone(UTC)
    # The second is formatted once (isoformat on every append cost twice as much as this).
    second = (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)
    text = _SECONDS.get(second)
    if text is None:
        if len(_SECONDS) >= 4096:
            _SECONDS.clear()
        text = _SECONDS[second] = moment.isoformat(timespec="seconds")[:19]
    return f"{text}.{moment.microsecond:06d}Z"


def _strings(values: tuple[str, ...] | list[str]) -> str:
    if len(values) == 1:  # the usual case on the hot path: no join, no map
        return "[" + _string(values[0]) + "]"
    return "[" + ",".join(map(_string, values)) + "]"


def _patients(patient_ids: tuple[str, ...]) -> str:
    # Most entries name one patient: skip the sort on the hot path.
    if len(patient_ids) < 2:
        return _strings(patient_ids)
    return _strings(sorted(set(patient_ids)))


def _facts(facts: dict[str, str]) -> str:
    if not facts:
        return "{}"
    return "{" + ",".join(f"{_string(k)}:{_string(v)}" for k, v in sorted(facts.items())) + "}"


def _actor(actor: Actor) -> str:
    # Each null spelled out inline, not by a call: this runs for every entry of a batch of
    # many actors.
    organisation, session = actor.organisation_id, actor.session_id
    return (
        f'{{"id":{_string(actor.id)},"kind":{_string(actor.kind)},'
        f'"organisation":{"null" if organisation is None else _string(organisation)},'
        f'"session":{"null" if session is None else _string(session)},'
        f'"source":{_string(actor.source)}}}'
    )


def _decision(decision: Decision) -> str:
    result = '"allow"' if decision.allowed else '"deny"'
    return (
        f'{{"facts":{_facts(decision.facts)},"result":{result},'
        f'"rule":{_string(decision.rule)},"why":{_string(decision.explanation)}}}'
    )


def _halves(entry: Entry, time: str, actor: str, decision: str) -> tuple[str, str]:
    """The canonical text of `entry` before its sequence number and after it: the number
    is the one member the journal fills in as it appends."""
    purpose = entry.purpose  # a StrEnum member is a str: no .value lookup on the hot path
    patients = entry.patient_ids
    return (
        f'{{"action":{_string(entry.kind)},"actor":{actor},"decision":{decision},'
        f'"outcome":{_string(entry.outcome)},'
        f'"patients":{_strings(patients) if len(patients) == 1 else _patients(patients)},'
        f'"purpose":{"null" if purpose is None else _string(purpose)},'
        f'"resources":{_strings(entry.resource_ids)},'
        '"seq":',
        f',"time":{_string(time)},"v":1}}',
    )


def encode(seq: int, entry: Entry, time: str) -> bytes:
    """The canonical bytes of `entry` at position `seq`, recorded at `time` (see timestamp)."""
    head, tail = _halves(entry, time, _actor(entry.actor), _decision(entry.decision))
    return f"{head}{seq:d}{tail}".encode("ascii")


def rows(first: int, entries: Sequence[Entry]) -> list[tuple[int, bytes]]:
    """The journal's rows for `entries` numbered from `first`: (seq, canonical bytes)."""
    return [
        (seq, f"{head}{seq:d}{tail}".encode("ascii"))
        for seq, (head, tail) in enumerate(_texts(entries), start=first)
    ]


def halves(entries: Sequence[Entry]) -> list[tuple[bytes, bytes]]:
    """For each entry, its canonical bytes before its sequence number and after it: the
    bytes at position `seq` are `head + b"%d" % seq + tail` (for a database that numbers
    the entries as it stores them)."""
    return [(head.encode("ascii"), tail.encode("ascii")) for head, tail in _texts(entries)]


def _texts(entries: Sequence[Entry]) -> list[tuple[str, str]]:
    """Each entry's canonical text around its sequence number. An actor or a decision that
    several entries share (a batch made by one operation) is encoded once."""
    actors: dict[int, str] = {}
    decisions: dict[int, str] = {}
    out = []
    for entry in entries:
        actor, decision = entry.actor, entry.decision
        # By identity, within this call: the entries keep every object alive until it ends.
        actor_text = actors.get(id(actor))
        if actor_text is None:
            actor_text = actors[id(actor)] = _actor(actor)
        decision_text = decisions.get(id(decision))
        if decision_text is None:
            decision_text = decisions[id(decision)] = _decision(decision)
        out.append(_halves(entry, timestamp(entry.recorded_at), actor_text, decision_text))
    return out


def decode(data: bytes) -> Record:
    """The record in canonical bytes; raise ValueError if they are not a version-1 entry."""
    try:
        fields: dict[str, Any] = json.loads(data)
        if fields.get("v") != ENTRY_VERSION:
            raise ValueError("not a version-1 journal entry")
        actor, decision = fields["actor"], fields["decision"]
        return Record(
            seq=int(fields["seq"]),
            time=str(fields["time"]),
            actor_kind=str(actor["kind"]),
            actor_id=str(actor["id"]),
            organisation_id=actor["organisation"],
            session_id=actor["session"],
            source=str(actor["source"]),
            action=str(fields["action"]),
            purpose=fields["purpose"],
            patient_ids=tuple(fields["patients"]),
            resource_ids=tuple(fields["resources"]),
            decision=str(decision["result"]),
            rule=str(decision["rule"]),
            explanation=str(decision["why"]),
            outcome=str(fields["outcome"]),
            facts=tuple(sorted((str(k), str(v)) for k, v in decision["facts"].items())),
        )
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"not a journal entry ({type(exc).__name__})") from None


def patient_ids(data: bytes) -> list[str]:
    """The patients an entry names, read from its canonical bytes without building the
    whole record: the links' upkeep reads every new entry. Raise ValueError as `decode`
    does."""
    try:
        fields = orjson.loads(data)
    except orjson.JSONDecodeError:  # what orjson does not read (an integer beyond 64 bits)
        return list(decode(data).patient_ids)
    if not isinstance(fields, dict) or fields.get("v") != ENTRY_VERSION:
        raise ValueError("not a version-1 journal entry")
    found = fields.get("patients")
    if not isinstance(found, list) or not all(isinstance(p, str) for p in found):
        raise ValueError("not a journal entry (its patients are not a list of ids)")
    return found


def leaf_hash(entry_bytes: bytes) -> bytes:
    """RFC 6962 2.1: MTH({d(0)}) = SHA-256(0x00 || d(0))."""
    return hashlib.sha256(b"\x00" + entry_bytes).digest()
