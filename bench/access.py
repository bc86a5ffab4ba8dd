"""Access decisions: one care decision with its facts already loaded.

The baseline is the least any decision costs: building its Decision value. Measured as the
median over rounds of many calls, both sides alternating.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from _harness import Goal, Results, log
from coffre.access import (
    CareRequest,
    Category,
    Decision,
    PatientFacts,
    Profession,
    Professional,
    Relationship,
    RelationshipKind,
    decide_care,
)

CALLS = 20_000
ROUNDS = 7


def _facts(now: datetime) -> tuple[CareRequest, PatientFacts]:
    me = Professional(
        "0b7c2a4e-7d0a-4b6e-8f55-2f1a0c9d3e11", Profession.PHYSICIAN, frozenset({"team-cardio"})
    )
    relationships = (
        Relationship(RelationshipKind.APPOINTMENT, now - timedelta(days=400), "someone-else"),
        Relationship(RelationshipKind.ADMISSION, now - timedelta(days=3), care_team_id="team-x"),
        Relationship(
            RelationshipKind.GENERAL_PRACTITIONER, now - timedelta(days=30), me.account_id
        ),
    )
    facts = PatientFacts(
        "5f0c1d2e-0000-4000-8000-000000000001",
        consent=True,
        relationships=relationships,
        excluded=frozenset({"other"}),
        masked_documents={"doc-9": "author-1"},
    )
    request = CareRequest(me, frozenset({Category.CLINICAL_NOTES, Category.RESULTS}))
    return request, facts


def _per_call(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    for _ in range(CALLS):
        work()
    return (time.perf_counter() - start) / CALLS


def run(results: Results) -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    request, facts = _facts(now)
    assert decide_care(request, facts, now).allowed

    def decide() -> object:
        return decide_care(request, facts, now)

    def baseline() -> object:
        return Decision(True, "rule", "why", {"a": "b"})

    log(f"access: {ROUNDS} rounds of {CALLS:,} decisions")
    _per_call(decide), _per_call(baseline)  # warm-up
    decided, bare = [], []
    for _ in range(ROUNDS):
        decided.append(_per_call(decide))
        bare.append(_per_call(baseline))
    value = statistics.median(decided) * 1e6
    base = statistics.median(bare) * 1e6
    results.add(
        "access.decision_median_us",
        value,
        "µs",
        baseline=base,
        ratio=value / base,
        goal=Goal("<=", 50),
    )
