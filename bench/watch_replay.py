"""The detection engine replaying a long stream: 1,000,000 synthetic journal events, read as
JSON lines from a file, through the 50 Sigma rules of bench/watch_match.py, on one core.

The events are written once to a temporary file, one JSON document a line; every round runs
in a fresh child process that reads the file line by line, parses each line and hands the
event to one `watch.Detector`, so nothing holds the million events at once. The baseline is
the same read loop, parsing each line and reading the event's 14 fields, and nothing else.
Both sides parse with orjson, as the watch reads other systems' JSON lines (these hold no
number of nineteen digits, which it would read with the json module).

Figures: events per second of the replay (median round, parsing included), and the child's
peak memory (VmHWM: the interpreter, the rules and the windows). The attacks hidden in
the events must all be seen, or the module fails.

    python bench/watch_replay.py child engine|bare FILE   # one round (what run() starts)
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from _watchdata import EXPECTED, FIELDS, iter_events, rule_texts

if TYPE_CHECKING:
    from _harness import Results

EVENTS = 1_000_000
ROUNDS = 2


def write_events(path: Path, count: int) -> None:
    """The events as JSON lines, made and written one at a time."""
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    with path.open("w", encoding="utf-8") as out:
        for event in iter_events(count):
            out.write(dumps(event))
            out.write("\n")


def replay(path: Path) -> dict[str, Any]:
    """Feed every event of the file to one detector; the firings counted by rule."""
    from coffre import watch  # imported by the child rounds only

    detector = watch.Detector(watch.load_rules(*rule_texts()), id_field="seq", time_field="time")
    observe, loads = detector.observe, orjson.loads
    fired: Counter[str] = Counter()
    count = 0
    start = time.perf_counter()
    with path.open("rb") as lines:
        for line in lines:
            for firing in observe(loads(line)):
                fired[firing.rule.ref] += 1
            count += 1
    seconds = time.perf_counter() - start
    return {"events": count, "seconds": seconds, "fired": dict(fired), "held": detector.held_events}


def bare(path: Path) -> dict[str, Any]:
    """Parse every line and read the event's fields, and nothing else."""
    loads, fields = orjson.loads, FIELDS
    count = 0
    start = time.perf_counter()
    with path.open("rb") as lines:
        for line in lines:
            event = loads(line)
            for name in fields:
                event[name]
            count += 1
    return {"events": count, "seconds": time.perf_counter() - start, "fired": {}}


def child(mode: str, path: Path) -> None:
    """One round, in this process: print its figures as JSON (with its peak memory)."""
    found = replay(path) if mode == "engine" else bare(path)
    found["peak_kb"] = peak_kb()
    print(json.dumps(found))


def peak_kb() -> int:
    """This process's peak resident memory, KiB: VmHWM on Linux (ru_maxrss would carry the
    parent's peak over the fork), else ru_maxrss."""
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    (line,) = [line for line in status.splitlines() if line.startswith("VmHWM:")]
    return int(line.split()[1])


def round_in_child(mode: str, path: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "child", mode, str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def run(results: Results) -> None:
    # The harness (SQLAlchemy, Coffre's services) is imported here, not at the top: the child
    # rounds import this module, and their peak memory must be the engine's alone.
    from _harness import Goal, interleaved, log

    with tempfile.TemporaryDirectory(prefix="coffre-watch-replay-") as tmp:
        path = Path(tmp) / "events.jsonl"
        start = time.perf_counter()
        write_events(path, EVENTS)
        size = path.stat().st_size / 1e6
        took = time.perf_counter() - start
        log(f"watch: {EVENTS:,} events written ({size:.0f} MB) in {took:.1f} s")
        rounds: dict[str, list[dict[str, Any]]] = {"engine": [], "bare": []}

        def measure(mode: str) -> float:
            found = round_in_child(mode, path)
            if found["events"] != EVENTS:
                raise RuntimeError(f"the {mode} round read {found['events']:,} events")
            rounds[mode].append(found)
            log(f"watch: {mode} round: {found['events'] / found['seconds']:,.0f} events/s")
            return found["seconds"] / found["events"]  # type: ignore[no-any-return]

        measures = {"engine": lambda _: measure("engine"), "bare": lambda _: measure("bare")}
        median = interleaved(measures, [None] * ROUNDS)
    first = rounds["engine"][0]
    missed = [name for name in EXPECTED if not first["fired"].get(name)]
    if missed:
        raise RuntimeError(f"the planted attacks went unseen by {', '.join(missed)}")
    log(f"watch: firings of one replay: {dict(sorted(first['fired'].items()))}")
    value, base = 1 / median["engine"], 1 / median["bare"]
    results.add(
        "watch.events_per_s",
        value,
        "events/s",
        baseline=base,
        ratio=value / base,
        goal=Goal(">=", 250_000),
    )
    peak = max(found["peak_kb"] for found in rounds["engine"]) / 1024
    peak_bare = max(found["peak_kb"] for found in rounds["bare"]) / 1024
    results.add(
        "watch.peak_mb",
        peak,
        "MB",
        baseline=peak_bare,
        ratio=peak / peak_bare,
        goal=Goal("<=", 150),
    )


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "child" or sys.argv[2] not in ("engine", "bare"):
        sys.exit("usage: python bench/watch_replay.py child engine|bare FILE   (run.py runs it)")
    child(sys.argv[2], Path(sys.argv[3]))
