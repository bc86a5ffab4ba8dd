"""The journal's entries as the events rules are written against: the Sigma log source
`product: coffre, service: journal` (docs/watch.md lists its fields).

An event holds what the entry holds, ids and codes only: no patient's name or number ever
reaches a rule, an alert or a log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from coffre.journal import Record

PRODUCT, SERVICE = "coffre", "journal"


def event_of(record: Record) -> dict[str, Any]:
    """One journal entry as a flat event. `action` is also split into its three parts
    (`source:subject:verb`), and each fact of the decision is `fact_NAME`."""
    source_module, subject, verb = [*record.action.split(":"), "", "", ""][:3]
    event: dict[str, Any] = {
        "seq": record.seq,
        "time": datetime.fromisoformat(record.time.replace("Z", "+00:00")),
        "action": record.action,
        "module": source_module,
        "subject": subject,
        "verb": verb,
        "actor_kind": record.actor_kind,
        "actor_id": record.actor_id,
        "organisation_id": record.organisation_id,
        "session_id": record.session_id,
        "source_ip": record.source,
        "purpose": record.purpose,
        "decision": record.decision,
        "rule": record.rule,
        "outcome": record.outcome,
        "patient_id": list(record.patient_ids),
        "patient_count": len(record.patient_ids),
        "resource_id": list(record.resource_ids),
    }
    event.update((f"fact_{name}", value) for name, value in record.facts)
    return event
