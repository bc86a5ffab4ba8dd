"""What every benchmark module shares: figures and goals, fresh installations, timing.

A benchmark module is `bench/<name>.py` exposing `run(results: Results) -> None`; modules
whose name starts with an underscore are helpers and are not run.
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import sqlalchemy as sa
from rich.console import Console
from sqlalchemy.engine import Engine

from coffre import identity
from coffre.bootstrap import Coffre, initialise, open_coffre
from coffre.config import Environment, load_settings
from coffre.identity import Actor, OrganisationKind, local_operator

T = TypeVar("T")

_console = Console(stderr=True, highlight=False)
_started = time.perf_counter()


def print_profile(what: str, profiler: cProfile.Profile) -> None:
    """The heaviest calls of a profiled run, by cumulative and by own time."""
    print(f"\n===== {what} =====")
    stats = pstats.Stats(profiler).strip_dirs()
    stats.sort_stats("cumulative").print_stats(30)
    stats.sort_stats("tottime").print_stats(20)


def log(message: str) -> None:
    """A progress line on stderr, with the seconds since the run started."""
    _console.print(f"[dim]{time.perf_counter() - _started:6.1f}s[/dim] {message}")


@dataclass(frozen=True)
class Goal:
    """A bound on a figure's value: `value <= target` or `value >= target`."""

    op: Literal["<=", ">="]
    target: float

    def met(self, value: float) -> bool:
        return value <= self.target if self.op == "<=" else value >= self.target

    def describe(self, unit: str) -> str:
        sign = "≤" if self.op == "<=" else "≥"
        return f"{sign} {self.target:,g} {unit}"


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    baseline: float
    ratio: float
    baseline_unit: str
    goal: Goal | None = None

    def as_json(self) -> dict[str, float | str]:
        return {
            "value": self.value,
            "unit": self.unit,
            "baseline": self.baseline,
            "ratio": self.ratio,
        }


class Results:
    """The figures one run produces, by name."""

    def __init__(self) -> None:
        self.figures: dict[str, Figure] = {}

    def add(
        self,
        name: str,
        value: float,
        unit: str,
        *,
        baseline: float,
        ratio: float,
        baseline_unit: str | None = None,
        goal: Goal | None = None,
    ) -> None:
        self.figures[name] = Figure(name, value, unit, baseline, ratio, baseline_unit or unit, goal)


def merge_into(path: Path, figures: Sequence[Figure]) -> dict[str, object]:
    """Write the figures into the JSON file at `path`, keeping the names they do not touch."""
    merged: dict[str, object] = {}
    if path.exists():
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            loaded = {}
        if isinstance(loaded, dict):
            merged.update(loaded)
    merged.update((f.name, f.as_json()) for f in figures)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(merged, indent=2, sort_keys=True, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")
    return merged


# installations ---------------------------------------------------------------


@dataclass(frozen=True)
class Installation:
    coffre: Coffre
    organisation_id: str
    operator: Actor
    home: Path

    @property
    def database_url(self) -> str:
        return self.coffre.settings.database_url

    @property
    def database_path(self) -> Path:
        return Path(self.database_url.removeprefix("sqlite:///"))


# A PostgreSQL server for the modules that take one (`installation(server=True)`): each
# installation gets a database of its own there, dropped afterwards. Unset: SQLite.
SERVER_URL = os.environ.get("COFFRE_BENCH_DATABASE_URL", "")


@contextmanager
def _database(server: bool) -> Iterator[dict[str, str]]:
    """The settings naming the installation's database: none (SQLite in its home), or a
    fresh database on the server of COFFRE_BENCH_DATABASE_URL."""
    if not (server and SERVER_URL):
        yield {}
        return
    name = f"coffre_bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(SERVER_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        url = sa.engine.make_url(SERVER_URL).set(database=name)
        yield {"COFFRE_DATABASE_URL": url.render_as_string(hide_password=False)}
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@contextmanager
def installation(*, server: bool = False) -> Iterator[Installation]:
    """A fresh, empty Coffre in a temporary home: SQLite (or, with `server` and
    COFFRE_BENCH_DATABASE_URL set, a database of its own on that PostgreSQL server),
    default settings, development, one care-provider organisation and the local operator
    acting for it."""
    with tempfile.TemporaryDirectory(prefix="coffre-bench-") as tmp, _database(server) as env:
        home = Path(tmp) / "home"
        settings = load_settings(home, env={"COFFRE_ENVIRONMENT": Environment.DEVELOPMENT, **env})
        initialise(settings)
        coffre = open_coffre(settings)
        try:
            with coffre.uow() as uow:
                org = identity.create_organisation(
                    uow, "Clinique du Banc d'Essai", OrganisationKind.CARE_PROVIDER, "FR"
                )
                uow.commit()
            yield Installation(coffre, org.id, local_operator(org.id), home)
        finally:
            coffre.close()


def _plain_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def plain_engine(path: Path) -> Engine:
    """A plain SQLAlchemy engine on a SQLite file, with Coffre's durability settings (WAL,
    synchronous=NORMAL) but none of its machinery: what an application without a vault uses."""
    engine = sa.create_engine(f"sqlite:///{path}")
    sa.event.listen(engine, "connect", _plain_pragmas)
    return engine


# Statements that only open or end a transaction, which `statements` leaves out.
_TRANSACTION_CONTROL = frozenset({"BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE"})


@contextmanager
def statements(engine: Engine, *opened: Any) -> Iterator[list[str]]:
    """The SQL statements SQLite runs while the block runs, transaction control left out,
    each on one line: on the connections of the units of work `opened` before the block,
    and on those the engine connects meanwhile (its idle connections are let go first, so
    that every other connection the block uses is a new one). Read from the driver's trace,
    so that the statements Coffre's hot paths run on the driver's cursor are counted too."""
    sent: list[str] = []
    traced: list[Any] = []

    def trace(statement: str) -> None:
        words = statement.split()
        if words and words[0].upper() not in _TRANSACTION_CONTROL:
            sent.append(" ".join(words))

    def follow(dbapi_connection: Any, *_: object) -> None:
        dbapi_connection.set_trace_callback(trace)
        traced.append(dbapi_connection)

    for uow in opened:
        follow(uow.connection.connection.dbapi_connection)
    engine.dispose()
    sa.event.listen(engine, "checkout", follow)
    try:
        yield sent
    finally:
        sa.event.remove(engine, "checkout", follow)
        for dbapi_connection in traced:
            dbapi_connection.set_trace_callback(None)


# timing ----------------------------------------------------------------------


def per_call(fn: Callable[[T], object], items: Sequence[T]) -> float:
    """Seconds per call of `fn` over `items`, measured as one batch with perf_counter."""
    start = time.perf_counter()
    for item in items:
        fn(item)
    return (time.perf_counter() - start) / len(items)


def interleaved(measures: dict[str, Callable[[T], float]], rounds: Sequence[T]) -> dict[str, float]:
    """Run every measure once per round, rotating their order so none always goes first,
    and return the median of each measure's rounds."""
    names = list(measures)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for index, batch in enumerate(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(measures[name](batch))
    return {name: statistics.median(values) for name, values in samples.items()}
