"""Run the benchmark modules of bench/ in this process, merge their figures into
bench/out/latest.json and print them.

Usage: python bench/run.py [MODULE ...]   (default: every module; e.g. `vault`)

Exits 0 when every module ran, whether or not its goals were met (benchmarks report, tests
check); exits 1 if a module crashed, after writing the figures of the others.
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console, JustifyMethod
from rich.table import Table

from _harness import Figure, Results, log, merge_into

BENCH = Path(__file__).resolve().parent
LATEST = BENCH / "out" / "latest.json"


def benchmark_modules() -> list[str]:
    """Every bench/<name>.py except run.py and the helpers (names starting with '_')."""
    return sorted(
        p.stem for p in BENCH.glob("*.py") if p.stem != "run" and not p.stem.startswith("_")
    )


def run_module(name: str, results: Results, console: Console) -> bool:
    """Run one module's benchmarks into `results`; False (and the traceback) if it crashed."""
    log(f"{name}: starting")
    start = time.perf_counter()
    try:
        module = importlib.import_module(name)
        module.run(results)
    except Exception:  # noqa: BLE001 (a crash is reported and the other modules still run)
        console.print_exception()
        log(f"[red]{name}: crashed after {time.perf_counter() - start:.0f} s[/red]")
        return False
    log(f"{name}: done in {time.perf_counter() - start:.0f} s")
    return True


def number(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if abs(value) >= 0.01 else f"{value:.2e}"


def table(figures: Sequence[Figure]) -> Table:
    out = Table(title="Benchmarks (value vs. its baseline measured in the same run)")
    for column in ("name", "value", "unit", "baseline", "ratio", "goal"):
        justify: JustifyMethod = "left" if column in ("name", "unit", "goal") else "right"
        out.add_column(column, justify=justify, no_wrap=True)
    for f in figures:
        goal = ""
        if f.goal is not None:
            met = f.goal.met(f.value)
            mark = "[green]✓ met[/green]" if met else "[red]✗ missed[/red]"
            goal = f"{f.goal.describe(f.unit)}  {mark}"
        baseline = f"{number(f.baseline)} {f.baseline_unit}"
        out.add_row(f.name, number(f.value), f.unit, baseline, number(f.ratio), goal)
    return out


def main(argv: Sequence[str]) -> int:
    console = Console()
    if not console.is_terminal:  # piped or under make: do not squeeze the table into 80 columns
        console = Console(width=160)
    available = benchmark_modules()
    chosen = list(argv) or available
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        console.print(
            f"No benchmark module {', '.join(unknown)}; there are {', '.join(available)}."
        )
        return 2
    results = Results()
    crashed = [name for name in chosen if not run_module(name, results, console)]
    figures = list(results.figures.values())
    merged = merge_into(LATEST, figures)
    console.print(table(figures))
    kept = len(merged) - len(figures)
    console.print(f"Written to {LATEST} ({len(figures)} figures, {kept} others kept).")
    if crashed:
        console.print(f"[red]Crashed: {', '.join(crashed)}.[/red]")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
