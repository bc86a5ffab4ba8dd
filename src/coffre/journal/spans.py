"""One span of the journal checked in one pass: its entries, their patient links and their
leaf hashes.

`coffre.journal.verify` checks a small journal as a single span, in its own transaction, and
splits a large one over worker processes, one span each (see `serve`). A worker loads this
module, coffre.journal.projections and coffre.journal.merkle alone, not the packages around
them and their many imports, so it starts in a few tens of milliseconds: these modules use
the standard library and the database's driver only, and name the journal's tables in
plain SQL.

A span starts on a tile boundary, so that every complete level-0 tile lies in one span; the
span reports the root of each (the tree above is folded by `verify`) and, for a tree size
that falls inside a tile, the perfect subtrees of that tile's leaves up to it.
"""

from __future__ import annotations

import base64
import itertools
import json
import sqlite3
import sys
from collections.abc import Callable, Iterator
from typing import Any

from coffre.journal.merkle import HASH_SIZE, TILE_HEIGHT, TILE_WIDTH, fold, leaf_hashes
from coffre.journal.projections import LinkPatterns, Problems, check_rows

CHUNK = 16 * TILE_WIDTH  # entries read and checked at once; progress is told per chunk
MAX_PROBLEMS = 20

_cursors = itertools.count()


class SpanResult:
    """What a span found (a plain class: a worker does not import dataclasses)."""

    def __init__(self, start: int, end: int | None) -> None:
        self.start = start
        self.end = end  # as asked: None for a span that runs to the last entry
        self.entries = 0  # consecutive entries checked from `start`
        self.stopped = False  # a missing or misplaced entry ended the span early
        self.problems: list[tuple[int | None, str]] = []
        self.roots: list[bytes] = []  # of the complete level-0 tiles, in order
        self.unmatched: list[int] = []  # level-0 tiles not stored as recomputed
        # For a tree size inside a tile: the (height, hash) perfect subtrees of that tile's
        # leaves below it, largest first.
        self.partials: dict[int, list[tuple[int, bytes]]] = {}
        self.stray_link: int | None = None  # the first patient link after the last entry read

    def add(self, seq: int | None, what: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append((seq, what))

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "entries": self.entries,
            "stopped": self.stopped,
            "problems": self.problems,
            "roots": base64.b64encode(b"".join(self.roots)).decode(),
            "unmatched": self.unmatched,
            "partials": {
                str(size): [[h, base64.b64encode(v).decode()] for h, v in stack]
                for size, stack in self.partials.items()
            },
            "stray_link": self.stray_link,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SpanResult:
        result = cls(int(data["start"]), data["end"])
        roots = base64.b64decode(data["roots"])
        result.entries = int(data["entries"])
        result.stopped = bool(data["stopped"])
        result.problems = [(seq, str(what)) for seq, what in data["problems"]]
        result.roots = [roots[i : i + HASH_SIZE] for i in range(0, len(roots), HASH_SIZE)]
        result.unmatched = [int(index) for index in data["unmatched"]]
        result.partials = {
            int(size): [(int(h), base64.b64decode(v)) for h, v in stack]
            for size, stack in data["partials"].items()
        }
        result.stray_link = data["stray_link"]
        return result


# -- tiles -----------------------------------------------------------------------------------------


def compare_tile(
    problems: Problems,
    stored: bytes | None,
    stratum: int,
    tile: int,
    values: list[bytes],
    *,
    full: bool,
) -> bool:
    """Compare a stored tile of the tree's level 8*stratum with the hashes recomputed for
    it; say whether they agree."""
    span = TILE_WIDTH ** (stratum + 1)
    first = tile * span
    if stored is None:
        if full or stratum > 0:
            problems.add(
                first, f"the stored hashes of entries {first} to {first + span - 1} are missing"
            )
        return False
    if stored == b"".join(values):
        return True
    bad = next(
        (
            i
            for i in range(min(len(values), len(stored) // HASH_SIZE))
            if stored[i * HASH_SIZE : (i + 1) * HASH_SIZE] != values[i]
        ),
        min(len(values), len(stored) // HASH_SIZE),
    )
    width = TILE_WIDTH**stratum
    seq = first + bad * width
    what = (
        f"entry {seq}: its stored leaf hash does not match its contents"
        if stratum == 0
        else f"entries {seq} to {seq + width - 1}: their stored subtree hash does not match "
        "their contents (an entry there was changed along with its leaf hash)"
    )
    problems.add(seq, what)
    return False


def compact_range(leaves: list[bytes]) -> list[tuple[int, bytes]]:
    """The perfect subtrees of fewer than TILE_WIDTH leaves, largest first (RFC 6962's
    split of a tree at its largest power of two, applied again to the rest)."""
    stack, at = [], 0
    for height in range(TILE_HEIGHT - 1, -1, -1):
        if len(leaves) & (1 << height):
            stack.append((height, fold(leaves[at : at + (1 << height)])))
            at += 1 << height
    return stack


# -- reading -------------------------------------------------------------------------------------


def _rows(conn: Any, postgres: bool, sql: str, params: tuple[int, ...]) -> Iterator[list[Any]]:
    """Rows in chunks straight from the driver (server-side on PostgreSQL)."""
    if postgres:
        cursor = conn.cursor(name=f"coffre_verify_{next(_cursors)}")
        cursor.itersize = CHUNK
        sql = sql.replace("?", "%s")
    else:
        cursor = conn.cursor()
    try:
        cursor.execute(sql, params)
        while chunk := cursor.fetchmany(CHUNK):
            yield chunk
    finally:
        cursor.close()


def _where(
    clauses: list[str], column: str, start: int | None, end: int | None
) -> tuple[str, tuple[int, ...]]:
    """A WHERE clause with the given conditions and `start <= column < end` (either bound
    may be None)."""
    params: list[int] = []
    if start is not None:
        clauses = [*clauses, f"{column} >= ?"]
        params.append(start)
    if end is not None:
        clauses = [*clauses, f"{column} < ?"]
        params.append(end)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)


# -- the check -----------------------------------------------------------------------------------


def check_job(
    conn: Any,
    postgres: bool,
    job: dict[str, Any],
    progress: Callable[[int], None] | None,
    *,
    told: int = 0,
) -> SpanResult:
    """check_span for a worker's job: its start, end, open_start and sizes. `told`: how
    many of its entries progress has been told of already (by a worker that then failed)."""
    return check_span(
        conn,
        postgres=postgres,
        start=job["start"],
        end=job["end"],
        open_start=job["open_start"],
        sizes=tuple(job["sizes"]),
        progress=_Told(progress, told),
    )


def check_span(
    conn: Any,
    *,
    postgres: bool,
    start: int,
    end: int | None,
    open_start: bool,
    sizes: tuple[int, ...] = (),
    progress: Callable[[int], None] | None = None,
) -> SpanResult:
    """Check entries from `start` (from the first one found if `open_start`) up to `end`
    (exclusive; None: to the last), inside the caller's transaction on `conn`, a DB-API
    connection. `sizes` are the tree sizes whose partial tile is wanted.

    SQLite keeps whatever a column is given: an entry stored as another type than bytes is
    reported, and should text read (a patient link's id, an entry stored as text) not be
    UTF-8, the span is read again with such text decoded leniently, and it then fails the
    checks like any other change (progress is not told twice)."""
    told = _Told(progress)
    try:
        return _check_span(conn, postgres, start, end, open_start, sizes, told)
    except sqlite3.OperationalError as exc:
        if postgres or "decode" not in str(exc):
            raise
    strict = conn.text_factory
    conn.text_factory = _lenient
    told.again()
    try:
        return _check_span(conn, postgres, start, end, open_start, sizes, told)
    finally:
        conn.text_factory = strict


def _lenient(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


class _Told:
    """Progress told once for each entry: a second reading of a span tells only what goes
    beyond the first one's (or beyond what was told `before` it)."""

    def __init__(self, progress: Callable[[int], None] | None, before: int = 0) -> None:
        self.progress = progress
        self.count, self.before = 0, before

    def again(self) -> None:
        self.before, self.count = self.count, 0

    def __call__(self, count: int) -> None:
        beyond = self.count + count - max(self.count, self.before)
        self.count += count
        if beyond > 0 and self.progress is not None:
            self.progress(beyond)


def _check_span(
    conn: Any,
    postgres: bool,
    start: int,
    end: int | None,
    open_start: bool,
    sizes: tuple[int, ...],
    progress: Callable[[int], None],
) -> SpanResult:
    result = SpanResult(start, end)
    head = "SELECT indexed, hashed FROM journal_head"
    indexed, hashed = next(_rows(conn, postgres, head, ()))[0]
    last_tile = None if end is None else -(-end // TILE_WIDTH)
    where, params = _where(["level = 0"], "idx", start // TILE_WIDTH, last_tile)
    tiles = {
        int(idx): bytes(hashes)
        for chunk in _rows(conn, postgres, f"SELECT idx, hashes FROM journal_tiles{where}", params)
        for idx, hashes in chunk
    }
    where, params = _where([], "seq", None if open_start else start, end)
    entries = _rows(
        conn,
        postgres,
        f"SELECT seq, entry FROM journal_entries{where} ORDER BY seq",
        params,
    )
    links = LinkPatterns(
        _rows(
            conn,
            postgres,
            f"SELECT seq, patient_id FROM journal_patients{where} ORDER BY seq, patient_id",
            params,
        )
    )
    wanted = sorted(s for s in sizes if s % TILE_WIDTH and s > start and (end is None or s <= end))
    expected = tile_start = start
    leaves: list[bytes] = []  # of the tile being read, which begins at tile_start
    for chunk in entries:
        count = len(chunk)
        misplaced = None
        if chunk[0][0] != expected or chunk[-1][0] != expected + count - 1:
            count = next(i for i, row in enumerate(chunk) if row[0] != expected + i)
            misplaced = int(chunk[count][0])
            chunk = chunk[:count]
        if postgres:
            chunk = [(seq, bytes(data)) for seq, data in chunk]
        try:
            hashes = leaf_hashes([data for _, data in chunk])
        except TypeError:  # an entry rewritten with another type (SQLite keeps any)
            chunk = _as_bytes(result, chunk)
            hashes = leaf_hashes([data for _, data in chunk])
        check_rows(result, chunk, links.below(expected + count), indexed, expected)
        leaves.extend(hashes)
        expected += count
        while len(leaves) >= TILE_WIDTH:
            _close_tile(result, tiles, tile_start, leaves[:TILE_WIDTH], wanted, hashed)
            leaves, tile_start = leaves[TILE_WIDTH:], tile_start + TILE_WIDTH
        progress(count)
        if misplaced is not None:
            result.add(
                expected,
                f"entries {expected} to {misplaced - 1} are missing"
                if misplaced > expected
                else f"entry {misplaced} is out of order or repeated",
            )
            result.stopped = True
            break
    if leaves:  # the span ends inside a tile
        _close_tile(result, tiles, tile_start, leaves, wanted, hashed)
    result.entries = expected - start
    if end is not None and expected < end and not result.stopped:
        after = _next_entry(conn, postgres, expected)
        if after is not None:  # the entries before the next span's first are missing
            result.add(expected, f"entries {expected} to {after - 1} are missing")
            result.stopped = True
    if not result.stopped:
        result.stray_link = links.first()
    return result


def _as_bytes(result: SpanResult, chunk: list[Any]) -> list[tuple[Any, bytes]]:
    """The chunk with each entry that is not bytes reported, and turned into the bytes of its
    text, which are then checked as any entry's."""
    rows = []
    for seq, data in chunk:
        if not isinstance(data, bytes):
            result.add(int(seq), f"entry {seq}: its canonical bytes are stored as another type")
            data = str(data).encode("utf-8", "surrogateescape")
        rows.append((seq, data))
    return rows


def _next_entry(conn: Any, postgres: bool, seq: int) -> int | None:
    sql = "SELECT seq FROM journal_entries WHERE seq >= ? ORDER BY seq LIMIT 1"
    cursor = conn.cursor()
    try:
        cursor.execute(sql.replace("?", "%s") if postgres else sql, (seq,))
        row = cursor.fetchone()
    finally:
        cursor.close()
    return None if row is None else int(row[0])


def _close_tile(
    result: SpanResult,
    tiles: dict[int, bytes],
    first: int,
    leaves: list[bytes],
    wanted: list[int],
    hashed: int,
) -> None:
    """Compare a complete tile with its stored leaf hashes (which must exist below `hashed`,
    as the journal's head says) and keep its root; keep the partial subtrees of any wanted
    size inside it."""
    for size in wanted:
        if first < size < first + TILE_WIDTH and size - first <= len(leaves):
            result.partials[size] = compact_range(leaves[: size - first])
    if len(leaves) == TILE_WIDTH:
        index = first // TILE_WIDTH
        if not compare_tile(result, tiles.get(index), 0, index, leaves, full=first < hashed):
            result.unmatched.append(index)
        result.roots.append(fold(leaves))


# -- as a worker process ---------------------------------------------------------------------------


def serve() -> None:
    """Read one job (JSON) on stdin, check its span in its own read-only transaction, and
    write progress lines and then the result (JSON lines) on stdout."""
    job = json.loads(sys.stdin.readline())
    postgres = "postgresql" in job
    if postgres:
        import psycopg  # only a PostgreSQL worker needs it

        conn: Any = psycopg.connect(job["postgresql"])
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
    else:
        conn = sqlite3.connect(job["sqlite"], isolation_level=None)
        conn.execute("PRAGMA query_only=ON")
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute("BEGIN")

    def tell(count: int) -> None:
        sys.stdout.write(json.dumps({"progress": count}) + "\n")
        sys.stdout.flush()

    try:
        result = check_job(conn, postgres, job, tell)
    finally:
        conn.rollback() if postgres else conn.execute("ROLLBACK")
        conn.close()
    sys.stdout.write(json.dumps({"result": result.to_json()}) + "\n")
    sys.stdout.flush()
