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
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from _harness import Goal, Results, interleaved, log, print_profile
from _watchdata import EXPECTED, FIELDS, rule_texts, synthetic_events
from coffre import watch

EVENTS = 200_000
ROUNDS = 5


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
