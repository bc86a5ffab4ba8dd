"""Appending to the journal: gapless, ids only, canonical bytes; Merkle tiles stored after."""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coffre import journal
from coffre.access import Decision, Purpose
from coffre.identity import Actor, ActorKind
from coffre.journal import Entry, EventKind, JournalError, Outcome
from coffre.journal.entries import encode, timestamp

ACTOR = Actor(
    kind=ActorKind.OPERATOR, id="operator:ana@host", organisation_id="org-1", source="cli@host"
)
ALLOW = Decision(True, "operator-import", "the local operator may import patients")


def _entry(*patients: str, when: datetime | None = None) -> Entry:
    return Entry(
        EventKind.PATIENT_CREATE,
        ACTOR,
        ALLOW,
        Outcome.SUCCESS,
        Purpose.IMPORT,
        patients,
        ("import:1",),
        when or datetime.now(UTC),
    )


def _naive_root(leaves: list[bytes]) -> bytes:
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + _naive_root(leaves[:k]) + _naive_root(leaves[k:])).digest()


def test_stored_entries_are_canonical_json_hashed_as_rfc6962_leaves(coffre):
    with coffre.uow() as uow:
        seqs = journal.append(uow, [_entry("p2", "p1", "p2"), _entry()])
        uow.commit()
    assert seqs == [0, 1]
    with coffre.uow() as uow:
        data = journal.entry_bytes(uow, 0)
        decoded = json.loads(data)
        assert data == json.dumps(decoded, sort_keys=True, separators=(",", ":")).encode()
        assert decoded["seq"] == 0 and decoded["v"] == 1 and decoded["time"].endswith("Z")
        assert decoded["patients"] == ["p1", "p2"]
        leaves = [journal.leaf_hash(journal.entry_bytes(uow, s)) for s in seqs]
        assert leaves[0] == hashlib.sha256(b"\x00" + data).digest()
        assert journal.tree(uow).root() == _naive_root(leaves)
        with pytest.raises(JournalError):
            journal.entry_bytes(uow, 99)
        assert journal.size(uow) == 2


def test_the_tree_stays_right_across_many_appends_and_tiles(coffre):
    with coffre.uow() as uow:
        for batch in (1, 255, 1, 300, 700, 3):
            journal.append(uow, [_entry(f"p{i}") for i in range(batch)])
        uow.commit()
    with coffre.uow() as uow:
        leaves = [journal.leaf_hash(journal.entry_bytes(uow, s)) for s in range(journal.size(uow))]
        for size in (1, 256, 257, 1000, len(leaves)):
            assert journal.tree(uow, size).root() == _naive_root(leaves[:size])


def _tiles(uow) -> dict[tuple[int, int], int]:  # type: ignore[no-untyped-def]
    rows = uow.connection.execute(sa.text("SELECT level, idx, hashes FROM journal_tiles"))
    return {(int(level), int(idx)): len(bytes(hashes)) // 32 for level, idx, hashes in rows}


def test_tiles_are_stored_by_catch_up_not_by_appending(coffre):
    with coffre.uow() as uow:
        for batch in (1, 599):
            journal.append(uow, [_entry(f"p{i}") for i in range(batch)])
        uow.commit()
    with coffre.uow() as uow:
        assert _tiles(uow) == {}
        root = journal.tree(uow).root()  # computed from the entries
        assert journal.behind(uow) == 599  # the links of the large append
        journal.catch_up(uow)
        uow.commit()
    with coffre.uow() as uow:
        # The two complete level-0 tiles, and their roots one level up; not the third.
        assert _tiles(uow) == {(0, 0): 256, (0, 1): 256, (1, 0): 2}
        hashed = uow.connection.execute(sa.text("SELECT hashed FROM journal_head"))
        assert hashed.scalar_one() == 512
        assert journal.behind(uow) == 0
        assert journal.tree(uow).root() == root
        journal.append(uow, [_entry("p") for _ in range(200)])
        assert journal.behind(uow) == 768 - 512  # the third tile is complete, not stored
        assert journal.catch_up(uow) == 200
        assert _tiles(uow) == {(0, 0): 256, (0, 1): 256, (0, 2): 256, (1, 0): 3}


def test_a_patient_sees_every_entry_that_names_them_at_once(coffre):
    with coffre.uow() as uow:
        journal.append(uow, [_entry("p1"), _entry("p2"), _entry("p1", "p2", "p1")])
        assert journal.append(uow, []) == []
        uow.commit()
    with coffre.uow() as uow:
        assert journal.behind(uow) == 0
        assert journal.catch_up(uow) == 0  # written with the entries
        history = list(journal.select_records(uow, journal.Filter(patient_id="p1")))
        assert journal.count_records(uow, journal.Filter(patient_id="p1")) == 2
    assert [h.seq for h in history] == [0, 2]
    assert history[0].action == "records:patient:create"
    assert history[0].rule == "operator-import"


def test_a_large_append_leaves_its_links_to_catch_up_and_so_do_the_appends_after_it(coffre):
    with coffre.uow() as uow:
        journal.append(uow, [_entry(f"p{i}") for i in range(journal.LINKED_AT_ONCE + 1)])
        journal.append(uow, [_entry("p0")])
        uow.commit()
    with coffre.uow() as uow:
        assert journal.behind(uow) == journal.LINKED_AT_ONCE + 2
        assert journal.catch_up(uow) == journal.LINKED_AT_ONCE + 2
        journal.append(uow, [_entry("p0")] * journal.LINKED_AT_ONCE)
        uow.commit()
    with coffre.uow() as uow:
        assert journal.behind(uow) == 0
        seqs = [h.seq for h in journal.select_records(uow, journal.Filter(patient_id="p0"))]
    n = journal.LINKED_AT_ONCE
    assert sorted(seqs) == [0, n + 1, *range(n + 2, 2 * n + 2)]


def test_entries_appended_behind_a_backlog_are_linked_by_catch_up(coffre):
    """A journal whose links lag (entries appended by an earlier version, which left them
    all to the indexer) is caught up in order: appends leave theirs to catch_up until it
    has reached the end, then link their own again."""
    with coffre.uow() as uow:
        journal.append(uow, [_entry("p1"), _entry("p2")])
        uow.connection.execute(sa.text("DELETE FROM journal_patients"))
        uow.connection.execute(sa.text("UPDATE journal_head SET indexed = 0"))
        uow.commit()
    with coffre.uow() as uow:
        journal.append(uow, [_entry("p1")])
        uow.commit()
    with coffre.uow() as uow:
        assert journal.behind(uow) == 3
        assert journal.count_records(uow, journal.Filter(patient_id="p1")) == 0
        assert journal.catch_up(uow) == 3
        uow.commit()
    with coffre.uow() as uow:
        journal.append(uow, [_entry("p1")])
        uow.commit()
    with coffre.uow() as uow:
        assert journal.behind(uow) == 0
        seqs = [h.seq for h in journal.select_records(uow, journal.Filter(patient_id="p1"))]
    assert sorted(seqs) == [0, 2, 3]
    report = journal.verify(coffre.uow(), coffre.signer.verifier, None)
    assert not [p for p in report.problems if "link" in p.what]


def test_an_append_that_is_not_committed_leaves_no_trace(coffre):
    with coffre.uow() as uow:
        journal.append(uow, [_entry("p1")] * 300)
    with coffre.uow() as uow:
        assert journal.size(uow) == 0
        assert journal.tree(uow).root() == hashlib.sha256(b"").digest()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    moment=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
    # A patient id, linked in a text column: at most 36 characters, no NUL (PostgreSQL).
    ids=st.lists(
        st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=36),
        max_size=4,
    ),
    rule=st.text(max_size=60),
)
def test_canonical_bytes_round_trip_for_any_values(coffre, moment, ids, rule):
    """On PostgreSQL the server writes each entry's number between the halves it is sent
    (entries.halves): the bytes stored are still those the journal encodes itself."""
    entry = Entry(
        EventKind.PATIENT_READ,
        ACTOR,
        Decision(False, rule or "r", rule),
        Outcome.DENIED,
        None,
        tuple(ids),
        tuple(ids),
        moment,
    )
    with coffre.uow() as uow:
        [seq] = journal.append(uow, [entry])
        uow.commit()
    with coffre.uow() as uow:
        data = journal.entry_bytes(uow, seq)
    assert data == encode(seq, entry, timestamp(moment))
    record = journal.decode(data)
    assert data == json.dumps(json.loads(data), sort_keys=True, separators=(",", ":")).encode()
    assert record.patient_ids == tuple(sorted(set(ids)))
    assert record.resource_ids == tuple(ids)
    assert (record.rule, record.explanation, record.decision) == (rule or "r", rule, "deny")
    assert record.purpose is None


def test_concurrent_appenders_number_every_entry_once_with_no_gap(coffre):
    """Threads appending at once, some rolling back: the committed entries are numbered
    0..n-1 with no gap, each stored whole at its own number, their links written, and the
    journal verifies."""
    committed: list[int] = []
    lock = threading.Lock()

    def appender(worker: int) -> None:
        for n in range(12):
            with coffre.uow() as uow:
                entries = [_entry(f"w{worker}-{n}"), _entry(f"w{worker}-{n}", "shared")][
                    : 1 + n % 2
                ]
                seqs = journal.append(uow, entries)
                if n % 5 == 4:
                    continue  # left uncommitted: rolled back
                uow.commit()
            with lock:
                committed.extend(seqs)

    threads = [threading.Thread(target=appender, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(committed) == list(range(len(committed)))
    with coffre.uow() as uow:
        assert journal.size(uow) == len(committed)
        assert [journal.decode(journal.entry_bytes(uow, s)).seq for s in committed] == committed
        assert journal.behind(uow) == 0
        shared = journal.count_records(uow, journal.Filter(patient_id="shared"))
    assert shared == sum(1 for w in range(6) for n in range(12) if n % 2 and n % 5 != 4)
    report = journal.verify(coffre.uow(), coffre.signer.verifier, None)
    assert [p for p in report.problems if p.seq is not None or "link" in p.what] == []
