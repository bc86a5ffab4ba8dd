"""The access journal: append throughput, full verification, inclusion proofs at ten million
leaves, and the journal's share of an audited read.

Every figure is measured next to a baseline in the same run and the same SQLite database.
`python bench/journal.py profile` profiles appending and verifying with cProfile instead.
"""

from __future__ import annotations

import cProfile
import hashlib
import random
import sqlite3
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from typing import Any, TypeVar

import sqlalchemy as sa

from _harness import (
    Goal,
    Installation,
    Results,
    installation,
    interleaved,
    log,
    per_call,
    plain_engine,
    print_profile,
)
from _patients import ndjson_lines
from coffre import access, journal
from coffre.access import AccessDenied, Action, Decision, Purpose
from coffre.identity import Actor, ActorKind
from coffre.journal import Entry, EventKind, Outcome
from coffre.journal.entries import encode, timestamp
from coffre.journal.merkle import Tree, extend, verify_inclusion
from coffre.journal.service import DatabaseHashes
from coffre.records.patients import load_patient_row, open_patient
from vault import audited_reader, import_lines

APPEND_BATCH = 1_000
APPEND_ROUNDS = 10
APPEND_BATCHES_PER_ROUND = 10  # 10 rounds x 10 batches x 1,000 = 100,000 measured entries
VERIFY_ROUNDS = 3
# Verification is measured on a journal of a million entries (the appended ones and more,
# appended untimed): each worker process starts in about 30 ms, which weighs on a small
# journal; the 101,000 entries of the append rounds give a figure of their own.
VERIFY_ENTRIES = 1_000_000
PROOF_LEAVES = 10_000_128  # a multiple of 256: every leaf is in a stored level-0 tile
PROOF_CHUNK = 65_536  # leaves per merkle.extend call, a multiple of 256
PROOF_CHUNKS_PER_COMMIT = 16  # about a million leaves per transaction
PROOF_ROUNDS = 10
PROOF_BATCH = 100  # 10 rounds x 100 = 1,000 proofs (and 1,000 baseline selects)
PROOF_CHECKED = 100  # proofs also checked with verify_inclusion against the root
READ_PATIENTS = 1_000
READ_ROUNDS = 9
READ_BATCH = 150

R = TypeVar("R")


def run(results: Results) -> None:
    with installation() as inst:
        append_throughput(inst, results)
        small = small_verify_rate(inst)
        grow(inst, VERIFY_ENTRIES)
        verify_throughput(inst, results, small)
    proof_latency(results)
    read_overhead(results)


# 1: append throughput against a bare batched SQLite insert -----------------------

CARE_TEAM = Decision(
    True,
    "care-team-read",
    "a member of the care team may read the patient's record",
    {"actor_kind": "account", "action": "read", "purpose": "care"},
)


def realistic_entry(organisation_id: str) -> Entry:
    """A physician's read of one document of one patient, from a signed-in web session:
    about 545 canonical bytes."""
    actor = Actor(
        ActorKind.ACCOUNT,
        str(uuid.uuid4()),
        organisation_id,
        role="physician",
        session_id=str(uuid.uuid4()),
        source="203.0.113.57",
    )
    return Entry(
        EventKind.DOCUMENT_READ,
        actor,
        CARE_TEAM,
        Outcome.SUCCESS,
        Purpose.CARE,
        (str(uuid.uuid4()),),
        (str(uuid.uuid4()),),
    )


def entry_batches(organisation_id: str, batches: int) -> list[list[Entry]]:
    return [[realistic_entry(organisation_id) for _ in range(APPEND_BATCH)] for _ in range(batches)]


def canonical_blobs(batches: Sequence[Sequence[Entry]], first_seq: int) -> list[list[bytes]]:
    """The entries' canonical bytes as the journal would number them: the baseline's rows."""
    blobs, seq = [], first_seq
    for batch in batches:
        rows = []
        for entry in batch:
            rows.append(encode(seq, entry, timestamp(entry.recorded_at)))
            seq += 1
        blobs.append(rows)
    return blobs


@contextmanager
def bare_sqlite(inst: Installation) -> Iterator[sqlite3.Connection]:
    """The standard library's sqlite3 on the installation's database file, with Coffre's
    durability settings (WAL, synchronous=NORMAL) and explicit transactions."""
    with closing(sqlite3.connect(inst.database_path, isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        yield conn


class BareLog:
    """The baseline: one table (seq INTEGER PRIMARY KEY, blob BLOB), 1,000 rows a
    transaction, each committed."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.seq = 0
        conn.execute("CREATE TABLE bench_bare_log (seq INTEGER PRIMARY KEY, blob BLOB NOT NULL)")

    def insert(self, blobs: Sequence[bytes]) -> None:
        rows = [(self.seq + n, blob) for n, blob in enumerate(blobs)]
        self.conn.execute("BEGIN")
        self.conn.executemany("INSERT INTO bench_bare_log (seq, blob) VALUES (?, ?)", rows)
        self.conn.execute("COMMIT")
        self.seq += len(rows)


def append_batches(inst: Installation, batches: Sequence[Sequence[Entry]]) -> float:
    """Seconds to append the batches, each with journal.append and a commit."""
    coffre = inst.coffre
    start = time.perf_counter()
    for batch in batches:
        with coffre.uow() as uow:
            journal.append(uow, batch)
            uow.commit()
    return time.perf_counter() - start


def insert_batches(log_table: BareLog, blobs: Sequence[Sequence[bytes]]) -> float:
    start = time.perf_counter()
    for rows in blobs:
        log_table.insert(rows)
    return time.perf_counter() - start


def journal_size(inst: Installation) -> int:
    with inst.coffre.reader() as uow:
        return journal.size(uow)


def append_throughput(inst: Installation, results: Results) -> None:
    per_round = APPEND_BATCHES_PER_ROUND * APPEND_BATCH
    batches = entry_batches(inst.organisation_id, 1 + APPEND_ROUNDS * APPEND_BATCHES_PER_ROUND)
    blobs = canonical_blobs(batches, journal_size(inst))
    sizes = {len(blob) for rows in blobs for blob in rows}
    log(
        f"journal: append of {APPEND_ROUNDS * per_round:,} entries of "
        f"{min(sizes)}-{max(sizes)} bytes, {APPEND_ROUNDS} rounds"
    )
    with bare_sqlite(inst) as conn:
        bare = BareLog(conn)
        append_batches(inst, batches[:1])  # warm-up
        insert_batches(bare, blobs[:1])
        rounds = [
            slice(1 + r * APPEND_BATCHES_PER_ROUND, 1 + (r + 1) * APPEND_BATCHES_PER_ROUND)
            for r in range(APPEND_ROUNDS)
        ]
        median = interleaved(
            {
                "coffre": lambda part: per_round / append_batches(inst, batches[part]),
                "bare": lambda part: per_round / insert_batches(bare, blobs[part]),
            },
            rounds,
        )
    if journal_size(inst) < len(batches) * APPEND_BATCH:
        raise RuntimeError("the journal did not get every appended entry")
    value, baseline = median["coffre"], median["bare"]
    ratio = value / baseline
    results.add(
        "journal.append_per_s",
        value,
        "entries/s",
        baseline=baseline,
        ratio=ratio,
        goal=Goal(">=", 100_000),
    )
    results.add(
        "journal.append_ratio",
        ratio,
        "x",
        baseline=baseline,
        ratio=ratio,
        baseline_unit="entries/s",
        goal=Goal(">=", 0.5),
    )


# 2: full verification against hashing the same bytes ---------------------------


def all_entry_bytes(inst: Installation) -> list[bytes]:
    with bare_sqlite(inst) as conn:
        return [bytes(d) for (d,) in conn.execute("SELECT entry FROM journal_entries ORDER BY seq")]


def timed_verify(inst: Installation, outside_note: str, size: int, workers: int = 1) -> float:
    coffre = inst.coffre
    start = time.perf_counter()
    report = journal.verify(coffre.reader(), coffre.signer.verifier, outside_note, workers=workers)
    elapsed = time.perf_counter() - start
    if not report.ok or report.entries != size:
        raise RuntimeError(f"the journal did not verify: {report.problems[:3]}")
    return elapsed


def timed_leaf_hashes(datas: Sequence[bytes]) -> float:
    sha256 = hashlib.sha256
    start = time.perf_counter()
    for data in datas:
        sha256(b"\x00" + data).digest()
    return time.perf_counter() - start


def checkpointed(inst: Installation) -> str:
    """Checkpoint the journal (which indexes it first); the outside checkpoint's note."""
    coffre = inst.coffre
    coffre.checkpoint()
    outside_note = coffre.publisher.newest()
    if outside_note is None:
        raise RuntimeError("the checkpoint was not published")
    return outside_note


def grow(inst: Installation, size: int) -> None:
    """Append realistic entries, untimed, until the journal holds `size`."""
    missing = size - journal_size(inst)
    log(f"journal: {missing:,} more entries appended (untimed) for verification")
    while missing > 0:
        batches = entry_batches(inst.organisation_id, min(20, -(-missing // APPEND_BATCH)))
        append_batches(inst, batches)
        missing -= len(batches) * APPEND_BATCH


def small_verify_rate(inst: Installation) -> float:
    """Entries a second verifying the 101,000 entries of the append rounds (see
    VERIFY_ENTRIES), median of the rounds."""
    outside_note = checkpointed(inst)
    size = journal_size(inst)
    workers = journal.default_workers()
    log(f"journal: verify {size:,} entries ({workers} processes), {VERIFY_ROUNDS} rounds")
    median = interleaved(
        {"verify": lambda _: size / timed_verify(inst, outside_note, size, workers)},
        range(VERIFY_ROUNDS),
    )
    return median["verify"]


def verify_throughput(inst: Installation, results: Results, small: float) -> None:
    outside_note = checkpointed(inst)
    datas = all_entry_bytes(inst)
    size = len(datas)
    workers = journal.default_workers()  # as `coffre journal verify` does
    log(f"journal: verify {size:,} entries ({workers} processes, and 1), {VERIFY_ROUNDS} rounds")
    timed_leaf_hashes(datas)  # warm-up
    median = interleaved(
        {
            "verify": lambda _: size / timed_verify(inst, outside_note, size, workers),
            "verify_1": lambda _: size / timed_verify(inst, outside_note, size),
            "hash": lambda _: size / timed_leaf_hashes(datas),
        },
        range(VERIFY_ROUNDS),
    )
    value, baseline = median["verify"], median["hash"]
    ratio = value / baseline
    results.add(
        "journal.verify_one_process_per_s",
        median["verify_1"],
        "entries/s",
        baseline=baseline,
        ratio=median["verify_1"] / baseline,
    )
    results.add(
        "journal.verify_per_s",
        value,
        "entries/s",
        baseline=baseline,
        ratio=ratio,
        goal=Goal(">=", 500_000),
    )
    results.add(
        "journal.verify_small_per_s",
        small,
        "entries/s",
        baseline=value,
        ratio=small / value,
        baseline_unit="entries/s (a million)",
    )
    results.add(
        "journal.verify_ratio",
        ratio,
        "x",
        baseline=baseline,
        ratio=ratio,
        baseline_unit="entries/s",
        goal=Goal(">=", 0.3),
    )


# 3: inclusion proofs in a tree of ten million leaves --------------------------------


def synthetic_leaf(index: int) -> bytes:
    return hashlib.sha256(index.to_bytes(8, "big")).digest()


def build_tree(inst: Installation, size: int) -> None:
    """Store the tiles of `size` synthetic leaves with merkle.extend, a chunk at a time,
    without any entry row (every chunk is whole tiles); put the same leaf hashes, one row
    each, in a plain table for the baseline."""
    sha256 = hashlib.sha256
    done = 0
    while done < size:
        with inst.coffre.uow() as uow:
            conn = uow.connection
            if done == 0:
                conn.exec_driver_sql(
                    "CREATE TABLE bench_plain_hashes (idx INTEGER PRIMARY KEY, hash BLOB NOT NULL)"
                )
            store = DatabaseHashes(conn)
            for _ in range(PROOF_CHUNKS_PER_COMMIT):
                if done == size:
                    break
                end = min(size, done + PROOF_CHUNK)
                leaves = [sha256(i.to_bytes(8, "big")).digest() for i in range(done, end)]
                extend(store, done, leaves)
                conn.exec_driver_sql(
                    "INSERT INTO bench_plain_hashes (idx, hash) VALUES (?, ?)",
                    list(zip(range(done, end), leaves, strict=True)),
                )
                done = end
            uow.commit()


def p99(samples: Sequence[float]) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[98]


def latencies(fn: Callable[[int], R], indices: Sequence[int]) -> tuple[list[float], list[R]]:
    """The seconds each call of `fn` took, timed one by one, and what the calls returned."""
    times, returned = [], []
    for index in indices:
        start = time.perf_counter()
        result = fn(index)
        times.append(time.perf_counter() - start)
        returned.append(result)
    return times, returned


def proof_latency(results: Results) -> None:
    size = PROOF_LEAVES
    rng = random.Random(41)
    with installation() as inst:
        start = time.perf_counter()
        build_tree(inst, size)
        log(f"journal: tree of {size:,} leaves stored in {time.perf_counter() - start:.1f} s")
        engine = plain_engine(inst.database_path)
        query = sa.text("SELECT hash FROM bench_plain_hashes WHERE idx = :idx")
        timings: dict[str, list[float]] = {"proof": [], "select": []}
        proofs: list[tuple[int, list[bytes]]] = []
        try:
            with inst.coffre.reader() as uow, engine.connect() as plain:
                conn = uow.connection

                def prove(index: int) -> list[bytes]:  # a fresh tree: no cache carried over
                    return Tree(DatabaseHashes(conn), size).inclusion_proof(index)

                def select(index: int) -> bytes:
                    return bytes(plain.execute(query, {"idx": index}).scalar_one())

                warm_up = rng.sample(range(size), 50)
                latencies(prove, warm_up)
                if latencies(select, warm_up)[1] != [synthetic_leaf(i) for i in warm_up]:
                    raise RuntimeError("the baseline table does not hold the leaf hashes")
                log(f"journal: {PROOF_ROUNDS * PROOF_BATCH:,} proofs at {size:,} leaves")
                for number in range(PROOF_ROUNDS):
                    batch = rng.sample(range(size), PROOF_BATCH)
                    if number % 2:  # alternate which side goes first
                        timings["select"].extend(latencies(select, batch)[0])
                    times, paths = latencies(prove, batch)
                    timings["proof"].extend(times)
                    proofs.extend(zip(batch, paths, strict=True))
                    if not number % 2:
                        timings["select"].extend(latencies(select, batch)[0])
                check_proofs(conn, size, rng.sample(proofs, PROOF_CHECKED))
        finally:
            engine.dispose()
    value, baseline = p99(timings["proof"]) * 1e3, p99(timings["select"]) * 1e3
    results.add(
        "journal.proof_p99_ms",
        value,
        "ms",
        baseline=baseline,
        ratio=value / baseline,
        goal=Goal("<=", 5),
    )


def check_proofs(conn: sa.Connection, size: int, proofs: Sequence[tuple[int, list[bytes]]]) -> None:
    """Check proofs with merkle.verify_inclusion against the root of the whole tree."""
    root = Tree(DatabaseHashes(conn), size).root()
    for index, path in proofs:
        if not verify_inclusion(index, size, synthetic_leaf(index), path, root):
            raise RuntimeError(f"the inclusion proof of leaf {index} does not verify")


# 4: the journal's share of an audited read ----------------------------------------


def unjournaled_reader(inst: Installation) -> Callable[[str], dict[str, Any]]:
    """records.read_patient without its journal entries: the same decision, row loading and
    opening in a unit of work committed the same way."""
    coffre = inst.coffre

    def read(patient_id: str) -> dict[str, Any]:
        with coffre.uow() as uow:
            decision = access.decide(inst.operator, Action.READ, Purpose.SUBJECT_ACCESS)
            if not decision.allowed:
                raise AccessDenied(decision.rule, decision.explanation)
            row = load_patient_row(uow, patient_id)
            uow.commit()
        return open_patient(coffre.vault, row)

    return read


def read_overhead(results: Results) -> None:
    lines = ndjson_lines(READ_PATIENTS, seed=51)
    rng = random.Random(52)
    with installation() as inst:
        ids = import_lines(inst, lines)
        audited, unjournaled = audited_reader(inst), unjournaled_reader(inst)
        if audited(ids[0]) != unjournaled(ids[0]):
            raise RuntimeError("the two reads returned different patients")
        measures: dict[str, Callable[[list[str]], float]] = {
            "audited": lambda batch: per_call(audited, batch),
            "unjournaled": lambda batch: per_call(unjournaled, batch),
        }
        log(f"journal: reads of {READ_PATIENTS:,} patients, {READ_ROUNDS} rounds")
        interleaved(measures, [rng.choices(ids, k=READ_BATCH)])  # warm-up
        median = interleaved(measures, [rng.choices(ids, k=READ_BATCH) for _ in range(READ_ROUNDS)])
    value, baseline = median["audited"] * 1e6, median["unjournaled"] * 1e6
    results.add("journal.read_overhead", value, "µs", baseline=baseline, ratio=value / baseline)


# profiling -------------------------------------------------------------------


def profile(batches: int = 50) -> None:
    """Print where appending (50 batches of 1,000) and one full verification spend their
    time (cProfile)."""
    with installation() as inst:
        coffre = inst.coffre
        work = entry_batches(inst.organisation_id, batches + 1)
        append_batches(inst, work[:1])
        profiler = cProfile.Profile()
        profiler.enable()
        append_batches(inst, work[1:])
        profiler.disable()
        print_profile("append", profiler)
        coffre.checkpoint()
        outside_note = coffre.publisher.newest()
        size = journal_size(inst)
        timed_verify(inst, outside_note or "", size)
        profiler = cProfile.Profile()
        profiler.enable()
        timed_verify(inst, outside_note or "", size)
        profiler.disable()
        print_profile("verify", profiler)


if __name__ == "__main__":
    if sys.argv[1:] != ["profile"]:
        sys.exit("usage: python bench/journal.py profile   (bench/run.py runs the benchmarks)")
    profile()
