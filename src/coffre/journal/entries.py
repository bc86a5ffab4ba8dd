"""Journal entries, their event kinds and their canonical bytes (format version 1).

The canonical bytes are UTF-8 JSON with sorted keys, no whitespace and ASCII escapes, of the
fields below; the leaf hash is SHA-256(0x00 || bytes) as RFC 6962 section 2.1 defines.
Entries name ids only: never a name, an identifier in clear, or free text typed by a user.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from coffre.access import Decision, Purpose
from coffre.identity import Actor

ENTRY_VERSION = 1


class EventKind(StrEnum):
    """`source:subject:action` names of what happened."""

    PATIENT_CREATE = "records:patient:create"
    PATIENT_SEARCH = "records:patient:search"
    PATIENT_READ = "records:patient:read"
    PATIENT_EXPORT = "records:patient:export"
    PATIENT_ERASE = "records:patient:erase"
    PATIENT_IMPORT = "records:patient:import"
    ENTRY_CREATE = "records:entry:create"
    DOCUMENT_CREATE = "records:document:create"
    DOCUMENT_READ = "records:document:read"
    KEY_ROTATE = "keys:kek:rotate"
    KEY_RECONCILE = "keys:data-key:destroy"


class Outcome(StrEnum):
    SUCCESS = "success"
    DENIED = "denied"
    FAILED = "failed"


@dataclass(frozen=True)
class Entry:
    kind: EventKind
    actor: Actor
    decision: Decision
    outcome: Outcome
    purpose: Purpose | None = None
    patient_ids: tuple[str, ...] = ()
    resource_ids: tuple[str, ...] = ()
    recorded_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def timestamp(moment: datetime) -> str:
    """UTC, microseconds, 'Z': the one spelling of a time in canonical bytes."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_fields(seq: int, row: dict[str, object]) -> dict[str, object]:
    return {
        "v": ENTRY_VERSION,
        "seq": seq,
        "time": row["recorded_at_text"],
        "actor": {
            "kind": row["actor_kind"],
            "id": row["actor_id"],
            "organisation": row["organisation_id"],
            "session": row["session_id"],
            "source": row["source"],
        },
        "action": row["action"],
        "purpose": row["purpose"],
        "patients": row["patient_list"],
        "resources": row["resource_list"],
        "decision": {"result": row["decision"], "rule": row["rule"], "why": row["explanation"]},
        "outcome": row["outcome"],
    }


def canonical_bytes(seq: int, row: dict[str, object]) -> bytes:
    return json.dumps(
        canonical_fields(seq, row), sort_keys=True, separators=(",", ":"), ensure_ascii=True
    ).encode("ascii")


def leaf_hash(entry_bytes: bytes) -> bytes:
    """RFC 6962 2.1: MTH({d(0)}) = SHA-256(0x00 || d(0))."""
    return hashlib.sha256(b"\x00" + entry_bytes).digest()
