"""Recomputing the whole journal: every entry, every stored hash, every checkpoint.

The entries are read in order, a span at a time (see coffre.journal.spans): each entry's
number must be the next one, its lookup columns and patient links must agree with its
canonical bytes, and its leaf hash must be the stored one. Higher tiles are compared with
the subtree hashes recomputed from the leaves, and the root at every checkpoint's size with
the checkpoint, whose signature is checked as well. The newest checkpoint kept outside the
database is the reference that catches a truncated journal.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from coffre.journal.checkpoints import Checkpoint, CheckpointInvalid, Verifier, stored
from coffre.journal.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    TILE_HEIGHT,
    TILE_WIDTH,
    fold,
    node_hash,
    split,
)
from coffre.journal.service import size as journal_size
from coffre.journal.spans import MAX_PROBLEMS, SpanResult, check_job, check_span, compare_tile
from coffre.journal.tables import journal_head, journal_tiles
from coffre.journal.workers import Workers
from coffre.store import UnitOfWork, driver_target

logger = logging.getLogger(__name__)

SPAN_MIN = 16 * 1024  # the fewest entries a span holds: a smaller journal is one span


@dataclass(frozen=True)
class Problem:
    seq: int | None  # the first entry concerned, when one can be named
    what: str


@dataclass
class Report:
    size: int = 0
    entries: int = 0
    tiles: int = 0
    checkpoints: int = 0
    outside: Checkpoint | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, seq: int | None, what: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(seq, what))


class _Frontier:
    """The perfect subtrees seen so far, left to right (RFC 6962's compact range), from
    which the root of the tree of every size is folded as the subtrees stream by."""

    def __init__(self) -> None:
        self.stack: list[tuple[int, bytes]] = []  # (height, hash), left to right

    def add(self, value: bytes, height: int = 0) -> None:
        while self.stack and self.stack[-1][0] == height:
            _, left = self.stack.pop()
            value = node_hash(left, value)
            height += 1
        self.stack.append((height, value))

    def root(self, smaller: Sequence[tuple[int, bytes]] = ()) -> bytes:
        """The root with `smaller` subtrees (each lower than any added) at the right."""
        stack = [*self.stack, *smaller]
        if not stack:
            return EMPTY_ROOT
        value = stack[-1][1]
        for _, left in reversed(stack[:-1]):
            value = node_hash(left, value)
        return value


def verify(
    uow: UnitOfWork,
    verifier: Verifier,
    outside_note: str | None,
    *,
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
) -> Report:
    """Recompute everything; the report lists what disagrees, first problem first.

    With `workers` above 1, a journal of at least twice SPAN_MIN entries is split into spans
    (one per worker at most, each of at least SPAN_MIN entries) checked side by side: the
    last by this process in `uow`'s transaction, the others by worker processes, each in a
    read-only transaction of its own (the entries below the head's size never change, so
    every span sees the same ones).
    """
    report = Report()
    with uow:
        report.size = journal_size(uow)
        marked = _hashed(uow)
        checkpoints = _checkpoints(uow, verifier, outside_note, report)
        tiles = {
            (int(level), int(idx)): bytes(hashes)
            for level, idx, hashes in uow.connection.execute(sa.select(journal_tiles))
        }
        spans = _check_spans(uow, report.size, tuple(checkpoints), workers, progress)
    roots: list[bytes] = []
    unmatched: set[int] = set()
    partials: dict[int, list[tuple[int, bytes]]] = {}
    for span in spans:
        for seq, what in span.problems:
            report.add(seq, what)
        roots.extend(span.roots)
        unmatched.update(span.unmatched)
        partials.update(span.partials)
        report.entries = span.start + span.entries
        if span.stopped or (span.end is not None and report.entries < span.end):
            break
    expected = report.entries
    hashed = min(marked, expected)  # the tiles that must be stored (see `catch_up`)
    _compare_roots(report, checkpoints, roots, partials, expected)
    if span.stray_link is not None and expected == report.size:
        report.add(span.stray_link, "a patient link points at no entry")
    if expected == report.size:
        for level, tile in sorted(t for t in tiles if t[0] == 0 and t[1] >= expected // TILE_WIDTH):
            report.add(
                tile * TILE_WIDTH,
                f"stored leaf hashes exist for entries that do not (tile {level}/{tile})",
            )
        missing = [t for t in range(hashed // TILE_WIDTH) if (0, t) not in tiles]
        for t in missing[:1]:
            report.add(
                t * TILE_WIDTH,
                f"the stored leaf hashes of entries {t * TILE_WIDTH} "
                f"to {(t + 1) * TILE_WIDTH - 1} are missing",
            )
        complete = expected // TILE_WIDTH
        beyond = any(level == 0 and marked <= t * TILE_WIDTH for level, t in tiles if t < complete)
        if beyond or marked % TILE_WIDTH or marked > complete * TILE_WIDTH:
            report.add(
                None,
                f"the journal head says the first {marked} entries have stored hashes; "
                "its complete tiles and the stored ones say otherwise",
            )
        _check_tile_chain(report, tiles, roots[: hashed // TILE_WIDTH], unmatched)
        report.tiles = len(tiles)
    elif not report.problems:
        report.add(expected, f"the journal head says {report.size} entries, {expected} found")
    for size in sorted(checkpoints):
        if expected < report.size:  # the check stopped at a problem, named above
            report.add(
                expected,
                f"a checkpoint covers {size} entries; they could not be checked past entry "
                f"{expected}",
            )
        else:
            report.add(
                expected,
                f"a checkpoint covers {size} entries but the journal holds {expected}: "
                f"entries {expected} to {size - 1} were removed",
            )
    # The first bad entry first; problems that name no entry (a checkpoint's) after.
    report.problems.sort(key=lambda p: (p.seq is None, p.seq or 0))
    return report


def _hashed(uow: UnitOfWork) -> int:
    """How many entries the stored tiles must cover, as the journal's head says."""
    found = uow.connection.execute(sa.select(journal_head.c.hashed)).scalar_one()
    return int(found)


def _compare_roots(
    report: Report,
    checkpoints: dict[int, Checkpoint],
    roots: list[bytes],
    partials: dict[int, list[tuple[int, bytes]]],
    entries: int,
) -> None:
    """Fold the tiles' roots into the tree of each checkpoint's size up to `entries`, and
    compare; the checkpoints compared are taken out of `checkpoints`. A tree that does not
    match is narrowed down by the largest smaller one that does: the entries between the
    two are where the change lies (an entry past the stored tiles has no stored hash of its
    own to name it by)."""
    frontier = _Frontier()
    pending = sorted(size for size in checkpoints if size <= entries)
    tiles_below = 0
    agreed = 0  # the size of the largest tree that matched its checkpoint so far
    for size in pending:
        while tiles_below < size // TILE_WIDTH:
            frontier.add(roots[tiles_below], TILE_HEIGHT)
            tiles_below += 1
        checkpoint = checkpoints.pop(size)
        if checkpoint.root == frontier.root(partials.get(size, ())):
            agreed = size
        elif size:
            report.add(
                size - 1,  # after any entry named in that range by its stored hash
                f"the tree of the first {size} entries does not match its signed checkpoint"
                + (f", though that of the first {agreed} does" if agreed else "")
                + f": one of entries {agreed} to {size - 1} was changed, removed or reordered",
            )
        else:
            report.add(None, "the tree of the first 0 entries does not match its signed checkpoint")


def _check_spans(
    uow: UnitOfWork,
    size: int,
    sizes: tuple[int, ...],
    workers: int,
    progress: Callable[[int], None] | None,
) -> list[SpanResult]:
    """Check the journal as one span here, or as several side by side (see verify)."""
    conn = uow.connection
    postgres = conn.dialect.name == "postgresql"
    dbapi: Any = conn.connection.driver_connection
    count = min(workers, size // SPAN_MIN)
    target = driver_target(conn.engine) if count > 1 else None
    if target is None:
        return [
            check_span(
                dbapi,
                postgres=postgres,
                start=0,
                end=None,
                open_start=True,
                sizes=sizes,
                progress=progress,
            )
        ]
    cuts = sorted({round(size * k / count / TILE_WIDTH) * TILE_WIDTH for k in range(count)})
    jobs = [
        {**target, "start": start, "end": end, "open_start": start == 0, "sizes": list(sizes)}
        for start, end in itertools.pairwise(cuts)
    ]
    with Workers(jobs) as running:
        own = check_span(
            dbapi,
            postgres=postgres,
            start=cuts[-1],
            end=None,
            open_start=False,
            sizes=sizes,
            progress=lambda n: running.poll(n, progress),
        )
        results = running.finish(progress)
    spans = []
    for index, (job, result) in enumerate(zip(jobs, results, strict=True)):
        if result is None:
            logger.warning("a journal verification worker failed; its span is checked here")
            result = check_job(dbapi, postgres, job, progress, told=running.told[index])
        spans.append(result)
    return [*spans, own]


def _checkpoints(
    uow: UnitOfWork, verifier: Verifier, outside_note: str | None, report: Report
) -> dict[int, Checkpoint]:
    """Every checkpoint to check against, by size; signature problems go into the report."""
    found: dict[int, Checkpoint] = {}
    for size, root, note in stored(uow):
        try:
            checkpoint = verifier.open(note)
        except CheckpointInvalid as exc:
            report.add(None, f"database checkpoint of size {size}: {exc.message}")
            continue
        if checkpoint.size != size or checkpoint.root != root:
            report.add(None, f"database checkpoint of size {size}: its columns and note differ")
        found[checkpoint.size] = checkpoint
        report.checkpoints += 1
    if outside_note is None:
        if found or report.size:
            report.add(None, "no checkpoint outside the database; a truncation cannot be ruled out")
        return found
    try:
        outside = verifier.open(outside_note)
    except CheckpointInvalid as exc:
        report.add(None, f"outside checkpoint: {exc.message}")
        return found
    report.outside = outside
    report.checkpoints += 1
    twin = found.get(outside.size)
    if twin is not None and twin.root != outside.root:
        report.add(None, f"the database and outside checkpoints of size {outside.size} differ")
    found[outside.size] = outside
    return found


def _check_tile_chain(
    report: Report, tiles: dict[tuple[int, int], bytes], roots: list[bytes], unmatched: set[int]
) -> None:
    """Each stored hash above level 0 must be the subtree hash of the stored tile below it
    (at level 8, the recomputed root of a level-0 tile stored as recomputed), so that a
    problem is named where it lies."""
    level = 1
    below = [
        roots[index] if index not in unmatched else _stored_root(tiles, 0, index)
        for index in range(len(roots))
    ]
    top = max((lvl for lvl, _ in tiles), default=0)
    while level <= top:
        wanted: dict[int, list[bytes]] = {}
        for index, value in enumerate(below):
            if value is not None:  # else reported at its own level
                wanted.setdefault(index // TILE_WIDTH, []).append(value)
        for lvl, tile in sorted(t for t in tiles if t[0] == level and t[1] not in wanted):
            report.add(None, f"stored hashes exist for nodes that do not (tile {lvl}/{tile})")
        for tile, values in sorted(wanted.items()):
            _compare_tile(report, tiles, level, tile, values, full=len(values) == TILE_WIDTH)
        below = [_stored_root(tiles, level, index) for index in range(len(below) // TILE_WIDTH)]
        level += 1


def _stored_root(tiles: dict[tuple[int, int], bytes], level: int, index: int) -> bytes | None:
    """The root of a complete stored tile, or None."""
    stored = tiles.get((level, index))
    if stored is None or len(stored) != TILE_WIDTH * HASH_SIZE:
        return None
    return fold(split(stored))


def _compare_tile(
    report: Report,
    tiles: dict[tuple[int, int], bytes],
    stratum: int,
    tile: int,
    values: list[bytes],
    *,
    full: bool,
) -> None:
    compare_tile(report, tiles.get((stratum, tile)), stratum, tile, values, full=full)
