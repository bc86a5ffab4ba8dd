"""The detection engine: 200,000 synthetic journal-like events through 50 Sigma rules (34
detections, 16 correlations), against a bare loop that only reads each event's fields.

Every round feeds every event, in time order, to a fresh `watch.Detector`; the figure is the
median round's events per second. The events hide a few attacks (a scraper, a prober, a
credential-stuffing source, a break-the-glass followed by an export); a run in which one of
them goes unseen fails the module.

    python bench/watch_match.py profile   # cProfile of one pass
"""

from __future__ import annotations

import cProfile
import gc
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from _harness import Goal, Results, interleaved, log, print_profile
from coffre import watch

EVENTS = 200_000
ROUNDS = 5
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
    rng = random.Random(seed)
    actors = [f"acct-{n:05d}" for n in range(2_000)]
    sessions = {actor: f"sess-{n:05d}" for n, actor in enumerate(actors)}
    organisations = [f"org-{n:03d}" for n in range(40)]
    sources = [f"10.{n // 250}.{n % 250}.{rng.randrange(1, 250)}" for n in range(500)]
    names, weights = zip(*ACTIONS, strict=True)
    events: list[dict[str, Any]] = []
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
        events.append(event)
    _plant_attacks(events)
    return events


def _plant_attacks(events: list[dict[str, Any]]) -> None:
    """Rewrite some events into attacks, keeping their times and numbers."""
    n = len(events)

    def rewrite(index: int, **fields: Any) -> None:
        events[index].update(fields)

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


# measures ---------------------------------------------------------------------------------------


def engine_pass(rules: watch.RuleSet, events: Sequence[dict[str, Any]]) -> Counter[str]:
    """Feed every event to a fresh detector; count the firings by rule."""
    detector = watch.Detector(rules, id_field="seq", time_field="time")
    fired: Counter[str] = Counter()
    observe = detector.observe
    for event in events:
        for firing in observe(event):
            fired[firing.rule.ref] += 1
    return fired


def bare_pass(events: Sequence[dict[str, Any]]) -> None:
    """Read every field of every event, and nothing else."""
    for event in events:
        for name in FIELDS:
            event[name]


def timed(work: Callable[[], object], count: int) -> float:
    start = time.perf_counter()
    work()
    return (time.perf_counter() - start) / count


def run(results: Results) -> None:
    texts = rule_texts()
    start = time.perf_counter()
    rules = watch.load_rules(*texts)
    log(
        f"watch: {len(rules.detections)} detections and {len(rules.correlations)} correlations "
        f"compiled in {time.perf_counter() - start:.2f} s, routed by '{rules.index_field}'"
    )
    events = synthetic_events(EVENTS)
    # The events stand for a stream read as it goes: keep the collector from walking through
    # all of them on every full collection, as it would not in a follower.
    gc.freeze()
    try:
        measure(results, rules, events)
    finally:
        gc.unfreeze()


def measure(results: Results, rules: watch.RuleSet, events: list[dict[str, Any]]) -> None:
    fired = engine_pass(rules, events)
    missed = [name for name in EXPECTED if not fired[name]]
    if missed:
        raise RuntimeError(f"the planted attacks went unseen by {', '.join(missed)}")
    log(f"watch: firings of one pass: {dict(sorted(fired.items()))}")
    measures = {
        "engine": lambda _: timed(lambda: engine_pass(rules, events), len(events)),
        "bare": lambda _: timed(lambda: bare_pass(events), len(events)),
    }
    log(f"watch: {ROUNDS} rounds of {len(events):,} events")
    interleaved(measures, [None])  # warm-up
    median = interleaved(measures, [None] * ROUNDS)
    value, base = 1 / median["engine"], 1 / median["bare"]
    results.add(
        "watch.match_events_per_s",
        value,
        "events/s",
        baseline=base,
        ratio=value / base,
        goal=Goal(">=", 250_000),
    )


def profile() -> None:
    """Print where one pass over the events spends its time (cProfile)."""
    rules = watch.load_rules(*rule_texts())
    events = synthetic_events(EVENTS)
    gc.freeze()
    engine_pass(rules, events)
    profiler = cProfile.Profile()
    profiler.enable()
    engine_pass(rules, events)
    profiler.disable()
    print_profile("one pass of the detection engine", profiler)


if __name__ == "__main__":
    if sys.argv[1:] != ["profile"]:
        sys.exit("usage: python bench/watch_match.py profile   (bench/run.py runs the benchmarks)")
    profile()
