"""Appending to the journal inside the caller's transaction (fail-closed), and reading it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from coffre.journal import merkle
from coffre.journal.entries import Entry, Record, decode, patient_ids, string_literal, timestamp
from coffre.journal.entries import halves as entry_halves
from coffre.journal.entries import rows as entry_rows
from coffre.journal.errors import JournalError, JournalWriteFailed
from coffre.journal.tables import (
    journal_checkpoints,
    journal_entries,
    journal_head,
    journal_patients,
    journal_tiles,
)
from coffre.store import Lean, UnitOfWork, run_many, run_rows, take_turn

_FAILED = "The journal could not be written, so the operation was cancelled."

# An append of at most this many entries (an operation's own) writes their patient links
# itself when the links are up to date: later, the indexer would decode them again and take
# the write lock once more. A larger batch (an import) leaves them to the indexer, which
# writes the links of many entries at once, in the order of the table's key.
LINKED_AT_ONCE = 16

# Built once: every audited operation runs them. Reserving entries also claims their
# patient links when `link` and the links are up to date (SET reads the row as it was).
_RESERVE = Lean(
    journal_head.update()
    .where(journal_head.c.id == 1)
    .values(
        size=journal_head.c.size + sa.bindparam("count"),
        indexed=sa.case(
            (
                sa.and_(
                    journal_head.c.indexed == journal_head.c.size,
                    sa.bindparam("link", type_=sa.Boolean),
                ),
                journal_head.c.size + sa.bindparam("count"),
            ),
            else_=journal_head.c.indexed,
        ),
    )
    .returning(journal_head.c.size, journal_head.c.indexed)
)
_SIZE = sa.select(journal_head.c.size).where(journal_head.c.id == 1)
_ENTRIES_IN = (
    sa.select(journal_entries.c.seq, journal_entries.c.entry)
    .where(
        journal_entries.c.seq >= sa.bindparam("start"), journal_entries.c.seq < sa.bindparam("end")
    )
    .order_by(journal_entries.c.seq)
)
_TILES_IN = Lean(
    sa.select(journal_tiles.c.idx, journal_tiles.c.hashes).where(
        journal_tiles.c.level == sa.bindparam("level"),
        journal_tiles.c.idx >= sa.bindparam("first"),
        journal_tiles.c.idx <= sa.bindparam("last"),
    )
)
_UPDATE_TILE = Lean(
    journal_tiles.update()
    .where(journal_tiles.c.level == sa.bindparam("l"), journal_tiles.c.idx == sa.bindparam("i"))
    .values(hashes=sa.bindparam("h"))
)
_INSERT_TILE = Lean(
    journal_tiles.insert().values(
        level=sa.bindparam("l"), idx=sa.bindparam("i"), hashes=sa.bindparam("h")
    )
)


class DatabaseHashes:
    """The tree's hash store on the journal tables of one open connection."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def get_tiles(self, level: int, first: int, last: int) -> dict[int, bytes]:
        rows = _TILES_IN.rows(self.conn, {"level": level, "first": first, "last": last})
        return {int(idx): bytes(hashes) for idx, hashes in rows}

    def put_tile(self, level: int, index: int, hashes: bytes) -> None:
        params = {"l": level, "i": index, "h": hashes}
        if _UPDATE_TILE.run(self.conn, params) == 0:
            _INSERT_TILE.run(self.conn, params)

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        if end <= start:
            return []
        rows = self.conn.execute(_ENTRIES_IN, {"start": start, "end": end}).all()
        if [seq for seq, _ in rows] != list(range(start, end)):
            raise JournalError(f"The journal is missing entries between {start} and {end - 1}.")
        return merkle.leaf_hashes([bytes(entry) for _, entry in rows])


def append(uow: UnitOfWork, entries: Sequence[Entry]) -> list[int]:
    """Append entries in the caller's open transaction and return their sequence numbers.

    Raises JournalWriteFailed if anything fails; the caller's transaction must then roll back
    (leaving the unit of work uncommitted does that), so the operation never happens unjournaled.
    """
    if not entries:
        return []
    conn = uow.connection
    try:
        if conn.dialect.name == "postgresql":
            return _append_at_once(conn, entries)
        # The head row is the one place sequence numbers come from: incrementing it locks it
        # until commit, so concurrent appenders queue and the numbering has no gaps.
        count = len(entries)
        [(reserved, indexed)] = _RESERVE.rows(
            conn, {"count": count, "link": count <= LINKED_AT_ONCE}
        )
        size = int(reserved)
        first = size - count
        rows = entry_rows(first, entries)
        run_many(conn, _insert_sql(conn, _ENTRY_COLUMNS), rows)
        if int(indexed) == size:
            # These entries' links are claimed (see LINKED_AT_ONCE): written here, in the
            # same transaction, from what the entries name.
            links = [
                (patient_id, seq)
                for seq, entry in enumerate(entries, start=first)
                for patient_id in sorted(set(entry.patient_ids))
            ]
            if links:
                run_many(conn, _insert_sql(conn, _LINK_COLUMNS), links)
    except (SQLAlchemyError, ValueError, JournalError) as exc:
        raise JournalWriteFailed(_FAILED) from exc
    return list(range(first, size))


# PostgreSQL: the head, the entries and their links in one statement. Concurrent appenders
# queue on the head row's lock from this statement to their commit; were the entries sent
# after the head's number came back, each would hold the lock over two more round trips,
# and over its wait for the interpreter between them (under load, milliseconds). The
# server numbers the entries from the head as it stores them: each one's bytes are its
# two halves around its number (entries.halves). The links go in only when claimed, as
# above, in the order of their table's key.
_APPEND_AT_ONCE = """
WITH head AS (
    UPDATE journal_head
    SET size = size + %(count)s,
        indexed = CASE WHEN indexed = size AND %(link)s THEN size + %(count)s ELSE indexed END
    WHERE id = 1
    RETURNING size, indexed
), added AS (
    INSERT INTO journal_entries (seq, entry)
    SELECT head.size - %(count)s + part.n - 1,
           part.head || convert_to((head.size - %(count)s + part.n - 1)::text, 'UTF8')
           || part.tail
    FROM head, unnest(%(heads)s::bytea[], %(tails)s::bytea[]) WITH ORDINALITY
         AS part(head, tail, n)
), linked AS (
    INSERT INTO journal_patients (seq, patient_id)
    SELECT head.size - %(count)s + link.n - 1, link.patient_id
    FROM head, unnest(%(positions)s::bigint[], %(patients)s::varchar[]) AS link(n, patient_id)
    WHERE head.indexed = head.size
    ORDER BY 1, 2
)
SELECT size FROM head
"""


def _append_at_once(conn: sa.Connection, entries: Sequence[Entry]) -> list[int]:
    count = len(entries)
    link = count <= LINKED_AT_ONCE
    positions: list[int] = []
    patients: list[str] = []
    if link:
        for position, entry in enumerate(entries, start=1):
            for patient_id in sorted(set(entry.patient_ids)):
                positions.append(position)
                patients.append(patient_id)
    parts = entry_halves(entries)
    take_turn(conn)
    [(size,)] = run_rows(
        conn,
        _APPEND_AT_ONCE,
        {
            "count": count,
            "link": link,
            "heads": [head for head, _ in parts],
            "tails": [tail for _, tail in parts],
            "positions": positions,
            "patients": patients,
        },
    )
    return list(range(int(size) - count, int(size)))


_ENTRY_COLUMNS = ("journal_entries", ("seq", "entry"))
_LINK_COLUMNS = ("journal_patients", ("patient_id", "seq"))


def _insert_sql(conn: sa.Connection, into: tuple[str, tuple[str, ...]]) -> str:
    # Driver-level executemany of plain tuples: the append path is the journal's hot path.
    table, columns = into
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([marker] * len(columns))})"
    )


# Locks the head row until commit (SET to itself) and reads how far the links and the
# stored hashes reach: one statement for both, as `catch_up` runs on every history read.
_LOCK_HEAD = (
    journal_head.update()
    .where(journal_head.c.id == 1)
    .values(indexed=journal_head.c.indexed)
    .returning(journal_head.c.indexed, journal_head.c.hashed, journal_head.c.size)
)


_HEAD = sa.select(journal_head.c.indexed, journal_head.c.hashed, journal_head.c.size).where(
    journal_head.c.id == 1
)


def behind(uow: UnitOfWork) -> int:
    """How many entries the patient links, or the stored hashes of complete tiles, do not
    reach yet."""
    indexed, hashed, current = (int(value) for value in uow.connection.execute(_HEAD).one())
    return max(current - indexed, current - current % merkle.TILE_WIDTH - hashed)


def catch_up(uow: UnitOfWork, *, batch: int = 10_000) -> int:
    """Bring the patient links up to the journal's end, and the stored hashes up to its last
    complete tile, in the open transaction (the caller commits); return how many entries
    were indexed. Idempotent, safe to run concurrently."""
    conn = uow.connection
    indexed, hashed, current = (int(v) for v in conn.execute(_LOCK_HEAD).one())
    _hash_up(conn, hashed, current)
    start = indexed
    while indexed < current:
        end = min(current, indexed + batch)
        links = sorted(
            (patient, seq)
            for seq, data in conn.execute(_ENTRIES_IN, {"start": indexed, "end": end})
            for patient in patient_ids(bytes(data))
        )
        if links:
            run_many(conn, _insert_sql(conn, _LINK_COLUMNS), links)
        indexed = end
    if indexed != start:
        conn.execute(journal_head.update().where(journal_head.c.id == 1).values(indexed=indexed))
    return indexed - start


def _hash_up(
    conn: sa.Connection, hashed: int, current: int, batch: int = 64 * merkle.TILE_WIDTH
) -> None:
    """Store the tiles of the complete level-0 tiles that have none yet, and the tiles above
    them. Appending does not hash: a tile is a cache for proofs (merkle.Tree computes what
    it does not find from the entries), and the signed checkpoints, not the tiles, make a
    change evident. `hashed` and `current` are the head's, read under its lock."""
    end = current - current % merkle.TILE_WIDTH
    if hashed >= end:
        return
    store = DatabaseHashes(conn)
    start = hashed
    while start < end:
        stop = min(end, start + batch)
        merkle.extend(store, start, store.leaf_hashes(start, stop))
        start = stop
    conn.execute(journal_head.update().where(journal_head.c.id == 1).values(hashed=end))


def size(uow: UnitOfWork) -> int:
    """The number of entries in the journal."""
    return int(uow.connection.execute(_SIZE).scalar_one())


def tree(uow: UnitOfWork, tree_size: int | None = None) -> merkle.Tree:
    """The Merkle tree of the first `tree_size` entries (default: all) in the open unit of work."""
    current = size(uow)
    if tree_size is None:
        tree_size = current
    if not 0 <= tree_size <= current:
        raise JournalError(f"The journal has {current} entries; there is no tree of {tree_size}.")
    return merkle.Tree(DatabaseHashes(uow.connection), tree_size)


def entry_bytes(uow: UnitOfWork, seq: int) -> bytes:
    """The canonical bytes of entry `seq`; raise JournalError if there is no such entry."""
    data = uow.connection.execute(
        sa.select(journal_entries.c.entry).where(journal_entries.c.seq == seq)
    ).scalar()
    if data is None:
        raise JournalError(f"The journal has no entry {seq}.")
    return bytes(data)


@dataclass(frozen=True)
class Filter:
    since: str | None = None  # a canonical time prefix, e.g. "2026-11-01"
    patient_id: str | None = None
    actor_id: str | None = None
    before_seq: int | None = None  # for paging newest first
    from_seq: int | None = None  # for following the journal by position


def _position(where: Filter) -> sa.ColumnElement[int]:
    """The entry number a filtered selection bounds and orders by: the patient links' when
    it is the patient's, so that the index (patient_id, seq) gives the entries in order
    and a page stops at its limit instead of sorting the patient's whole history."""
    return journal_patients.c.seq if where.patient_id is not None else journal_entries.c.seq


def _filtered(query: sa.Select[Any], where: Filter) -> sa.Select[Any]:
    seq = _position(where)
    if where.patient_id is not None:
        query = query.join(journal_patients, journal_patients.c.seq == journal_entries.c.seq).where(
            journal_patients.c.patient_id == where.patient_id
        )
    if where.since is not None:
        query = query.where(_time_in_bytes() >= sa.literal(where.since.encode(), sa.LargeBinary))
        cut = since_bound(where.since)
        if cut is not None:  # the times are not indexed: start after what is surely older
            first = sa.select(sa.func.max(journal_checkpoints.c.size)).where(
                journal_checkpoints.c.created_at < cut
            )
            query = query.where(seq >= sa.func.coalesce(first.scalar_subquery(), 0))
    if where.actor_id is not None:
        query = query.where(_Holds(journal_entries.c.entry, _actor_member(where.actor_id)))
    if where.before_seq is not None:
        query = query.where(seq < where.before_seq)
    if where.from_seq is not None:
        query = query.where(seq >= where.from_seq)
    return query


def _time_in_bytes() -> sa.ColumnElement[Any]:
    """The time member of an entry's canonical bytes, as bytes: its 27 characters are the
    last ones but 8 (`"time":"2026-11-23T05:23:14.123456Z","v":1}`). Compared bytewise, as
    text of ASCII digits would be."""
    entry = journal_entries.c.entry
    return sa.func.substr(entry, sa.func.length(entry) - 34, 27, type_=sa.LargeBinary)


def _actor_member(actor_id: str) -> bytes:
    """The actor's id as it begins the actor member of canonical bytes. No other place in
    them can hold these bytes: a quote inside a text is escaped, and no other member is
    named "actor"."""
    return f'"actor":{{"id":{string_literal(actor_id)},'.encode("ascii")


class _Holds(FunctionElement[bool]):
    """Whether bytes (a column) hold a run of bytes (a value), compared bytewise."""

    type = sa.Boolean()
    inherit_cache = True

    def __init__(self, data: sa.ColumnElement[bytes], part: bytes) -> None:
        super().__init__(data, sa.literal(part, sa.LargeBinary))


@compiles(_Holds)
def _holds(element: _Holds, compiler: Any, **kw: Any) -> str:
    data, part = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"(instr({data}, {part}) > 0)"


@compiles(_Holds, "postgresql")
def _holds_postgresql(element: _Holds, compiler: Any, **kw: Any) -> str:
    data, part = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"(position({part} in {data}) > 0)"


# How far ahead of the clock of the process that made a checkpoint an entry's time may be:
# both are read from the clock of the process that wrote them, and with several servers
# those clocks may disagree a little.
CLOCKS_APART = timedelta(hours=1)


def since_bound(since: str) -> str | None:
    """The time before which a checkpoint's entries are all older than `since` (a time
    prefix such as 2026-11-01 or 2026-11-01T10:30): every entry in a checkpoint's tree was
    appended before the checkpoint was made, and its time is when the entry was made, earlier
    still.
    None when `since` is not a time this can read (the selection then scans from the start)."""
    text = since.removesuffix("Z")
    for candidate in (text, text[:10]):
        try:
            moment = datetime.fromisoformat(candidate)
        except ValueError:
            continue
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        try:
            return timestamp(moment - CLOCKS_APART)
        except OverflowError:  # in the first hour of year 1: nothing is older
            return None
    return None


def select_records(
    uow: UnitOfWork, where: Filter, *, newest_first: bool = False, limit: int | None = None
) -> Iterator[Record]:
    """Decoded entries matching the filter, oldest first unless `newest_first`. A patient
    filter sees the entries the patient links reach: run `catch_up` first."""
    seq = _position(where)
    order = seq.desc() if newest_first else seq
    query = _filtered(sa.select(journal_entries.c.entry), where).order_by(order)
    if limit is not None:
        query = query.limit(limit)
    for (data,) in uow.connection.execute(query):
        yield decode(bytes(data))


def count_records(uow: UnitOfWork, where: Filter) -> int:
    """How many entries match the filter."""
    query = _filtered(sa.select(sa.func.count()).select_from(journal_entries), where)
    return int(uow.connection.execute(query).scalar_one())
