"""Recomputing the whole journal: every entry, every stored hash, every checkpoint.

One pass over the entries in order checks, for each entry, that its number is the next one,
that its lookup columns and patient links agree with its canonical bytes, and hashes it.
Level-0 tiles are compared with the recomputed leaf hashes, higher tiles with the subtree
hashes recomputed on the way, and the root at every checkpoint's size with the checkpoint,
whose signature is checked as well. The newest checkpoint kept outside the database is the
reference that catches a truncated journal.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from coffre.journal.checkpoints import Checkpoint, CheckpointInvalid, Verifier, stored
from coffre.journal.entries import projection_patients, projection_prefix, projection_suffix
from coffre.journal.merkle import EMPTY_ROOT, HASH_SIZE, TILE_WIDTH, fold, node_hash, split
from coffre.journal.service import size as journal_size
from coffre.journal.tables import journal_head, journal_tiles
from coffre.store import UnitOfWork

_MAX_PROBLEMS = 20


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
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(Problem(seq, what))


class _Frontier:
    """The perfect subtrees of the leaves seen so far (RFC 6962's compact range), from which
    the root of the tree of every size is folded as the leaves stream by."""

    def __init__(self) -> None:
        self.stack: list[tuple[int, bytes]] = []  # (height, hash), left to right
        self.count = 0

    def add(self, leaf: bytes) -> None:
        height, value = 0, leaf
        while self.stack and self.stack[-1][0] == height:
            _, left = self.stack.pop()
            value = node_hash(left, value)
            height += 1
        self.stack.append((height, value))
        self.count += 1

    def root(self) -> bytes:
        if not self.stack:
            return EMPTY_ROOT
        value = self.stack[-1][1]
        for _, left in reversed(self.stack[:-1]):
            value = node_hash(left, value)
        return value


def verify(
    uow: UnitOfWork,
    verifier: Verifier,
    outside_note: str | None,
    *,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Recompute everything; the report lists what disagrees, first problem first."""
    report = Report()
    with uow:
        conn = uow.connection
        report.size = journal_size(uow)
        indexed = int(conn.execute(sa.select(journal_head.c.indexed)).scalar_one())
        checkpoints = _checkpoints(uow, verifier, outside_note, report)
        tiles = {
            (int(level), int(idx)): bytes(hashes)
            for level, idx, hashes in conn.execute(sa.select(journal_tiles))
        }
        frontier = _Frontier()
        links = _stream(
            conn, "SELECT seq, patient_id FROM journal_patients ORDER BY seq, patient_id"
        )
        pending_link = next(links, None)
        level0: list[bytes] = []
        expected = 0
        rows = _stream(
            conn,
            "SELECT seq, recorded_at, actor_id, action, entry FROM journal_entries ORDER BY seq",
        )
        for seq, recorded_at, actor_id, action, entry in rows:
            data = bytes(entry)
            if seq != expected:
                what = (
                    f"entries {expected} to {seq - 1} are missing"
                    if seq > expected
                    else f"entry {seq} is out of order or repeated"
                )
                report.add(expected, what)
                break
            while pending_link is not None and pending_link[0] < seq:
                report.add(int(pending_link[0]), "a patient link points at no entry")
                pending_link = next(links, None)
            patients: list[str] = []
            while pending_link is not None and pending_link[0] == seq:
                patients.append(pending_link[1])
                pending_link = next(links, None)
            if not (
                data.startswith(projection_prefix(action, actor_id))
                and data.endswith(projection_suffix(seq, recorded_at))
            ):
                report.add(seq, f"entry {seq}: its stored fields and its canonical bytes differ")
            elif seq >= indexed and patients:
                report.add(seq, f"entry {seq}: patient links exist beyond the indexed part")
            elif seq < indexed and projection_patients(patients) not in data:
                report.add(seq, f"entry {seq}: its patient links and its canonical bytes differ")
            leaf = hashlib.sha256(b"\x00" + data).digest()
            level0.append(leaf)
            frontier.add(leaf)
            if len(level0) == TILE_WIDTH:
                _compare_tile(report, tiles, 0, seq // TILE_WIDTH, level0, full=True)
                level0 = []
            if frontier.count in checkpoints:
                _compare_root(report, checkpoints.pop(frontier.count), frontier.root())
            expected += 1
            if progress is not None and expected % 4096 == 0:
                progress(4096)
        report.entries = expected
        if progress is not None:
            progress(expected % 4096)
        if pending_link is not None and expected == report.size:
            report.add(int(pending_link[0]), "a patient link points at no entry")
        if expected == report.size:
            for level, tile in sorted(
                t for t in tiles if t[0] == 0 and t[1] >= expected // TILE_WIDTH
            ):
                report.add(
                    tile * TILE_WIDTH,
                    f"stored leaf hashes exist for entries that do not (tile {level}/{tile})",
                )
            missing = [t for t in range(expected // TILE_WIDTH) if (0, t) not in tiles]
            for t in missing[:1]:
                report.add(
                    t * TILE_WIDTH,
                    f"the stored leaf hashes of entries {t * TILE_WIDTH} "
                    f"to {(t + 1) * TILE_WIDTH - 1} are missing",
                )
            _check_tile_chain(report, tiles, expected)
            report.tiles = len(tiles)
        elif expected != report.size and not report.problems:
            report.add(expected, f"the journal head says {report.size} entries, {expected} found")
        if report.size == 0 and 0 in checkpoints:
            _compare_root(report, checkpoints.pop(0), EMPTY_ROOT)
        for size in sorted(checkpoints):
            report.add(
                min(size, report.entries),
                f"a checkpoint covers {size} entries but the journal holds {report.entries}: "
                f"entries {report.entries} to {size - 1} were removed",
            )
    # The first bad entry first; problems that name no entry (a checkpoint's) after.
    report.problems.sort(key=lambda p: (p.seq is None, p.seq or 0))
    return report


def _stream(conn: sa.Connection, sql: str) -> Iterator[tuple[Any, ...]]:
    """Rows as plain tuples straight from the driver, streamed: verification reads every
    entry once, and row objects would cost more than hashing them."""
    dbapi: Any = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        cursor = dbapi.cursor(name=f"coffre_verify_{uuid.uuid4().hex}")  # server-side
        cursor.itersize = 10_000
    else:
        cursor = dbapi.cursor()
    try:
        cursor.execute(sql)
        while True:
            chunk = cursor.fetchmany(10_000)
            if not chunk:
                return
            yield from chunk
    finally:
        cursor.close()


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


def _check_tile_chain(report: Report, tiles: dict[tuple[int, int], bytes], size: int) -> None:
    """Each stored hash above level 0 must be the subtree hash of the stored tile below it."""
    level = 1
    lower_count = size // TILE_WIDTH  # complete tiles one level down
    top = max((lvl for lvl, _ in tiles), default=0)
    while level <= top:
        wanted: dict[int, list[bytes]] = {}
        for lower in range(lower_count):
            below = tiles.get((level - 1, lower))
            if below is None or len(below) != TILE_WIDTH * HASH_SIZE:
                continue  # reported at its own level
            wanted.setdefault(lower // TILE_WIDTH, []).append(fold(split(below)))
        for lvl, tile in sorted(t for t in tiles if t[0] == level and t[1] not in wanted):
            report.add(None, f"stored hashes exist for nodes that do not (tile {lvl}/{tile})")
        for tile, values in sorted(wanted.items()):
            _compare_tile(report, tiles, level, tile, values, full=len(values) == TILE_WIDTH)
        lower_count = lower_count // TILE_WIDTH
        level += 1


def _compare_root(report: Report, checkpoint: Checkpoint, root: bytes) -> None:
    if checkpoint.root != root:
        report.add(
            checkpoint.size - 1 if checkpoint.size else None,
            f"the tree of the first {checkpoint.size} entries does not match its signed "
            "checkpoint: an entry up to there was changed, removed or reordered",
        )


def _compare_tile(
    report: Report,
    tiles: dict[tuple[int, int], bytes],
    stratum: int,
    tile: int,
    values: list[bytes],
    *,
    full: bool,
) -> None:
    span = TILE_WIDTH ** (stratum + 1)
    first = tile * span
    stored_hashes = tiles.get((stratum, tile))
    recomputed = b"".join(values)
    if stored_hashes is None:
        if full or stratum > 0:
            report.add(
                first, f"the stored hashes of entries {first} to {first + span - 1} are missing"
            )
        return
    if stored_hashes != recomputed:
        bad = next(
            (
                i
                for i in range(min(len(values), len(stored_hashes) // HASH_SIZE))
                if stored_hashes[i * HASH_SIZE : (i + 1) * HASH_SIZE] != values[i]
            ),
            min(len(values), len(stored_hashes) // HASH_SIZE),
        )
        width = TILE_WIDTH**stratum
        seq = first + bad * width
        what = (
            f"entry {seq}: its stored leaf hash does not match its contents"
            if stratum == 0
            else f"entries {seq} to {seq + width - 1}: their stored subtree hash does not match "
            "their contents (an entry there was changed along with its leaf hash)"
        )
        report.add(seq, what)
