"""What the detection benchmarks share: the 50 Sigma rules (34 detections, 16 correlations)
and the synthetic journal events, with a few attacks hidden in them (bench/watch_match.py,
bench/watch_replay.py). Events are made one at a time by `iter_events`, so a long replay
need not hold them all."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

STEP_MS = 5  # mean gap between two events: 200,000 events span about 17 minutes
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
FIELDS = (
    "seq",
    "time",
    "action",
    "actor",
    "actor_kind",
    "organisation",
    "session",
    "source",
    "purpose",
    "patients",
    "resources",
    "decision",
    "rule",
    "outcome",
)
# The attacks hidden in the events, and the rule that must fire for each.
EXPECTED = ("scraping", "probing", "stuffing_source", "glass_then_export", "failures_then_success")

LOGSOURCE = "logsource: {product: coffre, service: journal}"

# name: (detection body, coffre response or None); every one is a rule of its own.
DETECTIONS: dict[str, tuple[str, str | None]] = {
    "denied_read": (
        "sel: {action: [records:patient:read, records:record:read, records:document:read],"
        " decision: deny}",
        None,
    ),
    "read": ("sel: {action: records:patient:read, decision: allow}", None),
    "record_read": ("sel: {action: records:record:read, decision: allow}", None),
    "document_read": ("sel: {action: records:document:read}", None),
    "search": ("sel: {action: records:patient:search}", None),
    "big_search": ("sel: {action: records:patient:search, results|gt: 50}", "notify"),
    "login_failed": ("sel: {action: identity:session:login, outcome: failed}", None),
    "login_ok": ("sel: {action: identity:session:login, outcome: success}", None),
    "break_glass": ("sel: {action: access:break-the-glass:create}", None),
    "export": ("sel: {action: [records:patient:export, journal:log:export]}", None),
    "journal_export": (
        "sel: {action: journal:log:export, actor_kind|neq: operator}",
        "notify",
    ),
    "key_rotate": ("sel: {action: keys:kek:rotate}", "notify"),
    "data_key_destroy": ("sel: {action: keys:data-key:destroy}", "notify"),
    "erase": ("sel: {action: records:patient:erase, decision: allow}", "notify"),
    "import_by_account": (
        "sel: {action: records:patient:import, actor_kind: [account, client]}",
        "notify",
    ),
    "token_outside": (
        "sel: {action: identity:token:create}\n"
        "  inside: {source|cidr: [10.0.0.0/8, 192.168.0.0/16]}",
        "notify",
    ),
    "client_ceiling": ("sel: {action: identity:client:ceiling}", "suspend-client"),
    "mfa_update": ("sel: {action: identity:mfa:update}", None),
    "password_update": ("sel: {action: identity:password:update}", None),
    "account_suspend": ("sel: {action: identity:account:suspend}", None),
    "relationship_create": ("sel: {action: access:relationship:create}", None),
    "consent_read": ("sel: {action: access:consent:read}", None),
    "eligibility_read": ("sel: {action: records:eligibility:read}", None),
    "history_read": (
        "sel: {action: journal:history:read, actor_kind: account}",
        None,
    ),
    "exclusion_update": ("sel: {action: access:exclusion:update, decision: deny}", "notify"),
    "mask_update": ("sel: {action: access:mask:update, outcome: failed}", "notify"),
    "usage_read": ("sel: {action: records:usage:read, purpose|contains: insurance}", None),
    "logout": ("sel: {action: [identity:session:logout, identity:session:update]}", None),
    "member_enrol": ("sel: {action: records:member:create, outcome: failed}", "notify"),
    "create_burst_entry": ("sel: {action: records:entry:create, decision: deny}", "notify"),
    # These require nothing of `action`: every event is tried against them.
    "hostile_range": ("sel: {source|cidr: 203.0.113.0/24}", "notify"),
    "operator_reads_records": (
        "sel: {actor|re: '^operator:', action|startswith: 'records:'}\n"
        "  allowed: {purpose: [subject-access, erasure, import]}",
        "notify",
    ),
    "emergency_rule": ("sel: {rule|contains: break-the-glass, decision: deny}", "notify"),
    "unknown_kind": ("sel: {actor_kind|exists: false}", "notify"),
}
CONDITIONS = {
    "token_outside": "sel and not inside",
    "operator_reads_records": "sel and not allowed",
}

# name: (type, rules, group-by, timespan, condition, response)
CORRELATIONS: dict[str, tuple[str, str, str, str, str, str | None]] = {
    "probing": ("event_count", "denied_read", "actor", "5m", "{gte: 20}", "suspend-session"),
    "scraping": (
        "value_count",
        "read",
        "actor",
        "10m",
        "{gte: 200, field: patients}",
        "suspend-session",
    ),
    "record_scraping": (
        "value_count",
        "record_read",
        "session",
        "10m",
        "{gte: 150, field: patients}",
        "suspend-session",
    ),
    "search_sweep": ("event_count", "search", "actor", "1m", "{gte: 60}", "suspend-token"),
    "stuffing_source": (
        "value_count",
        "login_failed",
        "source",
        "10m",
        "{gte: 20, field: actor}",
        "notify",
    ),
    "many_failed": ("event_count", "login_failed", "actor", "5m", "{gte: 5}", None),
    "failures_then_success": (
        "temporal_ordered",
        "[many_failed, login_ok]",
        "actor",
        "30m",
        "{gte: 2}",
        "suspend-account",
    ),
    "glass_then_export": ("temporal", "[break_glass, export]", "actor", "1h", "{gte: 2}", None),
    "export_burst": ("event_count", "export", "actor", "1h", "{gte: 5}", "suspend-account"),
    "mfa_and_password": (
        "temporal",
        "[mfa_update, password_update]",
        "actor",
        "10m",
        "{gte: 2}",
        "notify",
    ),
    "relationship_then_read": (
        "temporal_ordered",
        "[relationship_create, read]",
        "actor",
        "2m",
        "{gte: 2}",
        None,
    ),
    "document_burst": ("event_count", "document_read", "session", "1m", "{gte: 100}", "notify"),
    "consent_sweep": (
        "value_count",
        "consent_read",
        "actor",
        "10m",
        "{gte: 100, field: patients}",
        "notify",
    ),
    "eligibility_sweep": (
        "value_count",
        "eligibility_read",
        "organisation",
        "10m",
        "{gte: 500, field: patients}",
        "notify",
    ),
    "roaming_actor": (
        "value_count",
        "logout",
        "actor",
        "1h",
        "{gte: 5, field: source}",
        "notify",
    ),
    "denied_across_organisations": (
        "value_count",
        "denied_read",
        "actor",
        "10m",
        "{gte: 3, field: organisation}",
        None,
    ),
}


def rule_texts() -> list[str]:
    """The 50 rules as Sigma YAML documents."""
    texts = []
    for name, (body, response) in DETECTIONS.items():
        coffre = f"coffre: {{response: {response}}}\n" if response else ""
        condition = CONDITIONS.get(name, "sel")
        texts.append(
            f"title: {name}\nname: {name}\n{LOGSOURCE}\n{coffre}"
            f"detection:\n  {body}\n  condition: {condition}\n"
        )
    for name, (kind, rules, group, span, condition, response) in CORRELATIONS.items():
        coffre = f"coffre: {{response: {response}}}\n" if response else ""
        texts.append(
            f"title: {name}\nname: {name}\n{coffre}correlation:\n  type: {kind}\n"
            f"  rules: {rules}\n  group-by: {group}\n  timespan: {span}\n"
            f"  condition: {condition}\n"
        )
    return texts


# synthetic events ------------------------------------------------------------------------------

ACTIONS = [  # (action, weight)
    ("records:patient:read", 35),
    ("records:record:read", 20),
    ("records:patient:search", 10),
    ("records:document:read", 8),
    ("identity:session:login", 8),
    ("records:entry:create", 5),
    ("identity:session:logout", 4),
    ("journal:history:read", 2),
    ("access:consent:update", 2),
    ("access:relationship:create", 2),
    ("access:consent:read", 1),
    ("records:eligibility:read", 1),
    ("identity:token:create", 1),
    ("records:patient:export", 0.3),
    ("identity:mfa:update", 0.3),
    ("identity:password:update", 0.3),
    ("access:break-the-glass:create", 0.1),
]


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")[:-6] + "Z"


def synthetic_events(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """`count` journal-like events in time order, with a few attacks mixed in."""
    return list(iter_events(count, seed))


def iter_events(count: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """The same events as `synthetic_events`, made one at a time (nothing is kept)."""
    rng = random.Random(seed)
    actors = [f"acct-{n:05d}" for n in range(2_000)]
    sessions = {actor: f"sess-{n:05d}" for n, actor in enumerate(actors)}
    organisations = [f"org-{n:03d}" for n in range(40)]
    sources = [f"10.{n // 250}.{n % 250}.{rng.randrange(1, 250)}" for n in range(500)]
    names, weights = zip(*ACTIONS, strict=True)
    attacks = _attacks(count)
    moment = T0
    for seq in range(1, count + 1):
        moment += timedelta(milliseconds=rng.expovariate(1 / STEP_MS))
        number = rng.randrange(len(actors))
        actor = actors[number]
        action = rng.choices(names, weights)[0]
        denied = rng.random() < 0.03
        failed = action == "identity:session:login" and rng.random() < 0.2
        event = {
            "seq": seq,
            "time": _iso(moment),
            "action": action,
            "actor": actor,
            "actor_kind": "account",
            "organisation": organisations[number % len(organisations)],
            "session": sessions[actor],
            "source": sources[number % len(sources)],
            "purpose": "care",
            "patients": [f"pat-{rng.randrange(50_000):05d}"],
            "resources": [],
            "decision": "deny" if denied else "allow",
            "rule": "no-consent" if denied else "care-relationship",
            "outcome": "failed" if failed else ("denied" if denied else "success"),
        }
        if action == "records:patient:search":
            event["results"] = rng.randrange(0, 60)
        event.update(attacks.get(seq - 1, ()))
        yield event


def _attacks(n: int) -> dict[int, dict[str, Any]]:
    """The fields to rewrite, by event index, to hide the attacks among `n` events (their
    times and numbers are kept)."""
    planned: dict[int, dict[str, Any]] = {}

    def rewrite(index: int, **fields: Any) -> None:
        planned.setdefault(index, {}).update(fields)

    start = n // 5  # a scraper reads 400 distinct patients, one event in ten for a while
    for k in range(400):
        rewrite(
            start + 10 * k,
            actor="acct-scraper",
            action="records:patient:read",
            decision="allow",
            outcome="success",
            patients=[f"pat-s{k:04d}"],
        )
    start = n // 3  # a prober is denied 30 times
    for k in range(30):
        rewrite(
            start + 7 * k,
            actor="acct-prober",
            action="records:record:read",
            decision="deny",
            outcome="denied",
        )
    start = n // 2  # a source tries 40 accounts, then gets into one of them
    for k in range(40):
        rewrite(
            start + 5 * k,
            actor=f"acct-{k:05d}",
            source="198.51.100.9",
            action="identity:session:login",
            outcome="failed",
            decision="allow",
        )
    for k in range(6):
        rewrite(
            start + 300 + 3 * k,
            actor="acct-00007",
            source="198.51.100.9",
            action="identity:session:login",
            outcome="failed",
            decision="allow",
        )
    rewrite(
        start + 400,
        actor="acct-00007",
        source="198.51.100.9",
        action="identity:session:login",
        outcome="success",
        decision="allow",
    )
    start = 2 * n // 3  # break-the-glass, then an export
    rewrite(
        start,
        actor="acct-glass",
        action="access:break-the-glass:create",
        decision="allow",
        outcome="success",
    )
    rewrite(
        start + 1_000,
        actor="acct-glass",
        action="records:patient:export",
        decision="allow",
        outcome="success",
    )
    return planned
