"""Other systems' audit logs as events with the journal's field names (docs/watch.md,
"Other systems' logs"): FHIR AuditEvent NDJSON, CSV and JSON lines.

Only the journal's fields are kept: a name, a display text or any other field of the
source is dropped. Patient identifiers are never kept as given but as a keyed hash
(`Pseudonyms`), so rules can still count distinct patients. A line that cannot be read
is reported by its number with a one-sentence reason; nothing is half-read.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from coffre.watch.errors import WatchError

# The journal's fields (docs/watch.md) an imported event may hold; `seq` is its position
# in the imported store (its line number under `coffre watch test`), never the source's.
TEXT_FIELDS = (
    "action",
    "module",
    "subject",
    "verb",
    "actor_kind",
    "actor_id",
    "organisation_id",
    "session_id",
    "source_ip",
    "purpose",
    "decision",
    "rule",
    "outcome",
)
LIST_FIELDS = ("patient_id", "resource_id")
FIELDS = frozenset(("time", *TEXT_FIELDS, *LIST_FIELDS, "patient_count"))
LIST_SEPARATOR = ";"  # several ids in one CSV cell
MAX_TEXT = 500
_LABEL = b"coffre watch: patient ids of imported logs"


class Format(StrEnum):
    AUDITEVENT = "auditevent"
    CSV = "csv"
    JSONL = "jsonl"


class FormatError(WatchError):
    """A file, or the mapping asked for, cannot be used at all (not one line: all of it)."""


class Pseudonyms:
    """Patient identifiers as HMAC-SHA256 hex under a key derived from `key` for this one
    purpose: the same identifier gives the same text, which tells nothing without the key."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        self._key = hmac.new(key, _LABEL, hashlib.sha256).digest()

    @classmethod
    def throwaway(cls) -> Pseudonyms:
        """Under a random key, for a dry run: nothing is stored, nothing is comparable."""
        return cls(secrets.token_bytes(32))

    def patient(self, value: str) -> str:
        return hmac.new(self._key, value.strip().encode(), hashlib.sha256).hexdigest()


@dataclass
class Parsed:
    """The events of a file with their line numbers, and its bad lines with the reason."""

    events: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)


class BadLine(Exception):
    """One line cannot be read; the message is the reason, without the line's content."""


def parse_mapping(specs: Iterable[str]) -> dict[str, str]:
    """`field=journal_field` texts as {source field: journal field}; raise FormatError."""
    mapping: dict[str, str] = {}
    for spec in specs:
        source, sep, target = (part.strip() for part in spec.partition("="))
        if not sep or not source or not target:
            raise FormatError(f"A mapping is written field=journal_field, not {spec[:60]!r}.")
        if target not in FIELDS:
            raise FormatError(
                f"{target[:40]!r} is not a journal field; use one of {', '.join(sorted(FIELDS))}."
            )
        if target in mapping.values():
            raise FormatError(f"Two fields are mapped to the journal field {target!r}.")
        mapping[source] = target
    return mapping


def parse_time(value: Any) -> datetime:
    """ISO 8601 text as an aware UTC time (a time without offset is taken as UTC)."""
    if isinstance(value, datetime):
        moment = value
    else:
        if not isinstance(value, str) or not value.strip():
            raise BadLine("it has no time")
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise BadLine("its time is not an ISO 8601 date and time") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _text(name: str, value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, dict | list):
        raise BadLine(f"its field {name} holds a list or an object, not a value")
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value).strip()
    if len(text) > MAX_TEXT:
        raise BadLine(f"its field {name} is longer than {MAX_TEXT} characters")
    return text


def _texts(name: str, value: Any, split: bool) -> list[str]:
    """A list field's values: a list, one value, or (in a CSV cell) values joined by ';'."""
    found: list[str] = []
    for item in value if isinstance(value, list) else [value]:
        text = _text(name, item)
        if text is not None and split:
            found.extend(p.strip() for p in text.split(LIST_SEPARATOR) if p.strip())
        elif text is not None:
            found.append(text)
    return found


def event_of(
    raw: Mapping[str, Any], pseudonyms: Pseudonyms, *, split: bool = False
) -> dict[str, Any]:
    """An event from journal-field values as a source gave them: every field of the
    journal's events present (None or empty when the source has nothing), patient ids
    (and the id of an actor of kind `patient`) hashed, `action` split into its parts.
    Raise BadLine."""
    event: dict[str, Any] = {"time": parse_time(raw.get("time"))}
    for name in TEXT_FIELDS:
        event[name] = _text(name, raw.get(name))
    if event["actor_kind"] == "patient" and event["actor_id"] is not None:
        event["actor_id"] = pseudonyms.patient(event["actor_id"])
    if event["action"] is not None:
        parts = [*event["action"].split(":", 2), "", ""][:3]
        for name, part in zip(("module", "subject", "verb"), parts, strict=True):
            event[name] = event[name] or part or None
    patients = _texts("patient_id", raw.get("patient_id"), split)
    event["patient_id"] = [pseudonyms.patient(p) for p in dict.fromkeys(patients)]
    event["resource_id"] = _texts("resource_id", raw.get("resource_id"), split)
    count = raw.get("patient_count")
    if patients or count in (None, ""):
        event["patient_count"] = len(event["patient_id"])
    else:
        try:
            event["patient_count"] = int(str(count).strip())
        except ValueError:
            raise BadLine("its patient_count is not a whole number") from None
    return event


_MISSING = object()


def _lookup(source: Mapping[str, Any], path: str) -> Any:
    """A key of the source, or a dotted path through nested objects; _MISSING if none."""
    if path in source:
        return source[path]
    value: Any = source
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def mapped(source: Mapping[str, Any], mapping: Mapping[str, str]) -> dict[str, Any]:
    """The journal fields of a row or an object: the mapped ones, and those whose names
    are journal fields already (unless mapped elsewhere); everything else is dropped."""
    raw = {k: v for k, v in source.items() if k in FIELDS and k not in mapping}
    for path, target in mapping.items():
        value = _lookup(source, path)
        if value is not _MISSING:
            raw[target] = value
    return raw


# FHIR R4 AuditEvent -------------------------------------------------------------------

_VERBS = {"C": "create", "R": "read", "U": "update", "D": "delete", "E": "execute"}
# As Coffre's own export writes them: 4 (minor failure) is a refusal.
_OUTCOMES = {
    "0": ("success", "allow"),
    "4": ("denied", "deny"),
    "8": ("failed", None),
    "12": ("failed", None),
}
_PATIENT_TYPES = ("Patient", "RelatedPerson")
_OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
_COFFRE_PURPOSE = "urn:coffre:purpose"


def _get(value: Any, *path: str | int) -> Any:
    """value[path…], or None where the structure is not what FHIR says."""
    for step in path:
        if isinstance(step, int):
            if not isinstance(value, list) or len(value) <= step:
                return None
        elif not isinstance(value, dict):
            return None
        value = value[step] if isinstance(step, int) else value.get(step)
    return value


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _reference(what: Any) -> tuple[str | None, str | None]:
    """A Reference as (text, resource type): its reference, else its identifier
    (`system|value`, or the value alone); (None, None) when it names nothing."""
    type_ = _get(what, "type")
    reference = _get(what, "reference")
    if isinstance(reference, str) and reference.strip():
        parts = reference.strip().split("/")
        kind = parts[-2] if len(parts) >= 2 else type_
        return reference.strip(), kind if isinstance(kind, str) else None
    value, system = _get(what, "identifier", "value"), _get(what, "identifier", "system")
    if isinstance(value, str) and value.strip():
        text = f"{system}|{value.strip()}" if isinstance(system, str) and system else value.strip()
        return text, type_ if isinstance(type_, str) else None
    return None, None


def _code(concept: Any) -> str | None:
    code = _get(concept, "code")
    return code.strip().replace(":", "-") if isinstance(code, str) and code.strip() else None


def auditevent_fields(resource: Any) -> dict[str, Any]:
    """The journal fields of one FHIR R4 AuditEvent (ids and codes only); raise BadLine."""
    if _get(resource, "resourceType") != "AuditEvent":
        raise BadLine("it is not a FHIR AuditEvent (resourceType)")
    if not isinstance(resource.get("recorded"), str):
        raise BadLine("its AuditEvent has no recorded time")
    subtypes = [c for c in map(_code, _dicts(resource.get("subtype"))) if c]
    kind = subtypes[0] if subtypes else _code(resource.get("type"))
    if kind is None:
        raise BadLine("its AuditEvent has no type code")
    action = resource.get("action")
    if action is not None and action not in _VERBS:
        raise BadLine("its AuditEvent action is not one of C, R, U, D, E")
    outcome, decision = _OUTCOMES.get(str(resource.get("outcome")), (None, None))
    raw: dict[str, Any] = {
        "time": resource["recorded"],
        "action": f"import:{kind}:{_VERBS.get(action or '', 'unknown')}",
        "outcome": outcome,
        "decision": decision,
    }
    agents = _dicts(resource.get("agent"))
    requestor = next((a for a in agents if a.get("requestor") is True), None) or _get(agents, 0)
    who, who_type = _reference(_get(requestor, "who"))
    if who is not None:
        # A patient (or relative) acting: `event_of` hashes the id of an actor of that kind.
        kinds = {"Patient": "patient", "RelatedPerson": "patient", "Device": "client"}
        kinds["Organization"] = "client"
        raw["actor_kind"] = kinds.get(who_type or "", "account")
        raw["actor_id"] = who
    addresses = [_get(a, "network", "address") for a in [requestor, *agents]]
    raw["source_ip"] = next((a for a in addresses if isinstance(a, str) and a.strip()), None)
    policy = _get(requestor, "policy", 0)
    if isinstance(policy, str):
        raw["session_id"] = policy.removeprefix("urn:coffre:session:")
    codings = _dicts(_get(resource, "purposeOfEvent", 0, "coding")) or _dicts(
        _get(requestor, "purposeOfUse", 0, "coding")
    )
    own = [c for c in codings if c.get("system") == _COFFRE_PURPOSE]
    raw["purpose"] = _code((own or codings or [None])[0])
    patients: list[str] = []
    resources: list[str] = []
    for entity in _dicts(resource.get("entity")):
        text, type_ = _reference(entity.get("what"))
        role = _get(entity, "role")
        if text is None:
            continue  # a query or a detail: free text, never kept
        if type_ in _PATIENT_TYPES or (_get(role, "system"), _code(role)) == (_OBJECT_ROLE, "1"):
            patients.append(text)
        else:
            resources.append(text)
    raw["patient_id"], raw["resource_id"] = patients, resources
    return raw
