"""Reading the journal: filtered and paged selections, counts, trees, and damaged storage."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from coffre import journal
from coffre.access import Decision, Purpose
from coffre.identity import Actor, ActorKind
from coffre.journal import Entry, EventKind, Filter, JournalError, Outcome
from coffre.journal.entries import decode, encode, timestamp
from coffre.journal.service import DatabaseHashes

ANA = Actor(kind=ActorKind.ACCOUNT, id="account:ana", role="practitioner", source="203.0.113.1")
BOB = Actor(kind=ActorKind.ACCOUNT, id="account:bob", role="practitioner", source="203.0.113.2")
ALLOW = Decision(True, "care-read", "the practitioner treats the patient")
DAY = datetime(2026, 5, 1, tzinfo=UTC)


def _read(actor: Actor, when: datetime) -> Entry:
    return Entry(
        EventKind.PATIENT_READ, actor, ALLOW, Outcome.SUCCESS, Purpose.CARE, ("p",), (), when
    )


@pytest.fixture
def filled(coffre):  # type: ignore[no-untyped-def]
    """Six entries: Ana, Bob, Ana, … one day apart from DAY on (seq n on day n)."""
    with coffre.uow() as uow:
        journal.append(uow, [_read((ANA, BOB)[n % 2], DAY + timedelta(days=n)) for n in range(6)])
        uow.commit()
    return coffre


def _seqs(coffre, where: Filter, **kwargs) -> list[int]:  # type: ignore[no-untyped-def]
    with coffre.uow() as uow:
        return [r.seq for r in journal.select_records(uow, where, **kwargs)]


def _count(coffre, where: Filter) -> int:  # type: ignore[no-untyped-def]
    with coffre.uow() as uow:
        return journal.count_records(uow, where)


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (Filter(), [0, 1, 2, 3, 4, 5]),
        (Filter(since="2026-05-03"), [2, 3, 4, 5]),
        (Filter(since="2026-05-03T00:00:00.000001Z"), [3, 4, 5]),
        (Filter(actor_id=BOB.id), [1, 3, 5]),
        (Filter(actor_id="account:nobody"), []),
        (Filter(since="2026-05-04", actor_id=ANA.id), [4]),
    ],
    ids=["all", "since-day", "since-instant", "actor", "unknown-actor", "since-and-actor"],
)
def test_selection_and_count_apply_the_time_and_actor_filters(filled, where, expected):
    assert _seqs(filled, where) == expected
    assert _count(filled, where) == len(expected)


# Actor ids that begin, end or spell one another, and ones with characters that the canonical
# bytes escape or that SQL patterns would read as wildcards.
_LOOKALIKES = (
    "account:ana",
    "account:an",
    "account:ana2",
    "ACCOUNT:ANA",
    'account:"ana"',
    "account:ana\\",
    "account:anä",
    "account:an%",
    "account:an_",
)


def test_the_actor_filter_selects_that_actor_alone(coffre):
    def entry(n: int, actor_id: str) -> Entry:
        actor = Actor(kind=ActorKind.ACCOUNT, id=actor_id, role="practitioner", source="::1")
        # Another member that spells an actor member: the bytes escape its quotes.
        why = Decision(True, "care-read", f'"actor":{{"id":"{_LOOKALIKES[0]}",')
        return Entry(EventKind.PATIENT_READ, actor, why, Outcome.SUCCESS, None, (), (), DAY)

    with coffre.uow() as uow:
        journal.append(uow, [entry(n, actor_id) for n, actor_id in enumerate(_LOOKALIKES)])
        uow.commit()
    for n, actor_id in enumerate(_LOOKALIKES):
        assert _seqs(coffre, Filter(actor_id=actor_id)) == [n], actor_id
        assert _count(coffre, Filter(actor_id=actor_id)) == 1


@pytest.fixture
def checkpointed(coffre):  # type: ignore[no-untyped-def]
    """Three entries on 1, 2 and 3 May, a checkpoint of them, three more on 5, 6, 7 May."""
    with coffre.uow() as uow:
        journal.append(uow, [_read(ANA, DAY + timedelta(days=n)) for n in range(3)])
        uow.commit()
    coffre.checkpoint()
    with coffre.uow() as uow:
        journal.append(uow, [_read(BOB, DAY + timedelta(days=n)) for n in range(4, 7)])
        uow.commit()
    return coffre


def _made(coffre, made: str) -> None:  # type: ignore[no-untyped-def]
    with coffre.uow() as uow:
        uow.connection.execute(
            sa.text("UPDATE journal_checkpoints SET created_at = :made WHERE size = 3"),
            {"made": made},
        )
        uow.commit()


@pytest.mark.parametrize(
    ("made", "since", "expected"),
    [
        ("2026-05-04T00:00:00.000000Z", "2026-05-06", [4, 5]),
        ("2026-05-04T00:00:00.000000Z", "2026-05-03", [2, 3, 4, 5]),
        # The checkpoint's clock half an hour behind the entries' (less than CLOCKS_APART).
        ("2026-05-02T23:30:00.000000Z", "2026-05-03", [2, 3, 4, 5]),
        # Over a day behind: the checkpoint says entries 0 to 2 came before 2 May, and the
        # scan starts after them (entry 2, recorded on 3 May, is not seen).
        ("2026-05-02T00:00:00.000000Z", "2026-05-03", [3, 4, 5]),
    ],
    ids=["after", "before", "clocks-within-margin", "clocks-apart"],
)
def test_a_selection_since_a_time_starts_at_a_checkpoint_made_before_it(
    checkpointed, made, since, expected
):  # type: ignore[no-untyped-def]
    _made(checkpointed, made)
    assert _seqs(checkpointed, Filter(since=since)) == expected
    assert _count(checkpointed, Filter(since=since)) == len(expected)
    bobs = [seq for seq in expected if seq >= 3]  # Bob's entries are 3, 4 and 5
    assert _seqs(checkpointed, Filter(since=since, actor_id=BOB.id)) == bobs


@pytest.mark.parametrize(
    ("since", "cut"),
    [
        ("2026-11-01", "2026-10-31T23:00:00.000000Z"),
        ("2026-11-01T10:30", "2026-11-01T09:30:00.000000Z"),
        ("2026-11-01T10:30:05.1Z", "2026-11-01T09:30:05.100000Z"),
        ("2026-11-01T25", "2026-10-31T23:00:00.000000Z"),  # read as its date: earlier, safe
        ("2026", None),
        ("0001-01-01", None),
    ],
)
def test_the_bound_of_a_time_is_an_hour_before_it(since, cut):  # type: ignore[no-untyped-def]
    assert journal.service.since_bound(since) == cut


def test_newest_first_pages_below_a_sequence_number_with_a_limit(filled):
    assert _seqs(filled, Filter(), newest_first=True) == [5, 4, 3, 2, 1, 0]
    assert _seqs(filled, Filter(before_seq=4), newest_first=True, limit=2) == [3, 2]
    assert _seqs(filled, Filter(before_seq=4)) == [0, 1, 2, 3]
    assert _seqs(filled, Filter(before_seq=4, actor_id=ANA.id), newest_first=True) == [2, 0]
    assert _seqs(filled, Filter(before_seq=0)) == []
    assert _seqs(filled, Filter(), limit=0) == []


def test_a_page_of_a_patient_s_history_is_read_in_order_from_the_index(sqlite_coffre):
    with sqlite_coffre.uow() as uow:
        journal.append(uow, [_read((ANA, BOB)[n % 2], DAY) for n in range(40)])
        uow.commit()
    sqlite_coffre.index_journal()
    seen: list[tuple[str, Any]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if "journal_patients" in statement and statement.lstrip().startswith("SELECT"):
            seen.append((statement, parameters))

    where = Filter(patient_id="p", before_seq=30)
    sa.event.listen(sqlite_coffre.engine, "before_cursor_execute", capture)
    try:
        assert _seqs(sqlite_coffre, where, newest_first=True, limit=3) == [29, 28, 27]
    finally:
        sa.event.remove(sqlite_coffre.engine, "before_cursor_execute", capture)
    ((statement, parameters),) = seen
    with sqlite3.connect(sqlite_coffre.settings.home / "coffre.db") as conn:
        plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)]
    # The page stops at its limit: no sort of the patient's whole history first.
    assert not any("TEMP B-TREE" in step for step in plan), plan
    assert any("ix_journal_patients_patient_id_seq" in step for step in plan), plan


@pytest.mark.parametrize("size", [-1, 7, 1000])
def test_there_is_no_tree_of_a_size_the_journal_does_not_have(filled, size):
    with filled.uow() as uow, pytest.raises(JournalError, match="has 6 entries; there is no tree"):
        journal.tree(uow, size)


def test_every_tree_up_to_the_journal_size_exists(filled):
    with filled.uow() as uow:
        assert journal.tree(uow, 0).size == 0
        assert journal.tree(uow, 6).root() == journal.tree(uow).root()


def test_an_empty_range_of_leaves_has_no_hashes(sqlite_coffre):
    with sqlite_coffre.uow() as uow:
        hashes = DatabaseHashes(uow.connection)
        assert hashes.leaf_hashes(3, 3) == []
        assert hashes.leaf_hashes(5, 2) == []


def test_a_journal_missing_an_entry_has_no_tree(sqlite_coffre):
    with sqlite_coffre.uow() as uow:
        journal.append(uow, [_read(ANA, DAY + timedelta(seconds=n)) for n in range(10)])
        uow.commit()
    with sqlite3.connect(sqlite_coffre.settings.home / "coffre.db") as conn:
        conn.execute("DELETE FROM journal_entries WHERE seq = 4")
    with sqlite_coffre.uow() as uow:
        hashes = DatabaseHashes(uow.connection)
        assert len(hashes.leaf_hashes(0, 4)) == 4
        assert len(hashes.leaf_hashes(5, 10)) == 5
        with pytest.raises(JournalError, match="missing entries between 3 and 5"):
            hashes.leaf_hashes(3, 6)
        with pytest.raises(JournalError, match="missing entries between 0 and 7"):
            journal.tree(uow).root()
        assert journal.tree(uow, 4).root()  # the prefix before the gap is still there


# -- canonical times and bytes -----------------------------------------------------------------


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        datetime(2026, 1, 2, 4, 34, 5, 6, tzinfo=timezone(timedelta(hours=1, minutes=30))),
        datetime(2026, 1, 1, 22, 4, 5, 6, tzinfo=timezone(timedelta(hours=-5))),
        datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone(timedelta(0), "GMT")),
        datetime(2026, 1, 2, 3, 4, 5, 6),  # naive: taken as UTC
    ],
    ids=["utc", "plus-0130", "minus-0500", "gmt", "naive"],
)
def test_every_time_is_written_in_utc_with_microseconds(moment):
    assert timestamp(moment) == "2026-01-02T03:04:05.000006Z"


def _bytes(**changes: object) -> bytes:
    data = encode(3, _read(ANA, DAY), timestamp(DAY))
    for old, new in changes.items():
        data = data.replace(old.encode(), str(new).encode())
    return data


def test_canonical_bytes_decode_to_their_record():
    record = decode(_bytes())
    assert (record.seq, record.actor_id, record.time) == (3, ANA.id, "2026-05-01T00:00:00.000000Z")


@pytest.mark.parametrize(
    "data",
    [_bytes(**{'"v":1': '"v":2'}), _bytes(**{',"v":1': ""}), _bytes(**{'"v":1': '"v":"1"'})],
    ids=["version-2", "no-version", "version-as-text"],
)
def test_bytes_of_another_entry_version_are_refused(data):
    with pytest.raises(ValueError, match="not a version-1 journal entry"):
        decode(data)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b"\xff\xfe\x00",
        b"null",
        b"[1]",
        b'{"v":1}',
        b'{"v":1,"actor":[],"decision":{}}',
        _bytes(**{'"patients":["p"]': '"patients":7'}),
    ],
    ids=["empty", "text", "binary", "null", "list", "fields-missing", "actor-list", "patients-7"],
)
def test_bytes_that_are_not_an_entry_are_refused_with_a_value_error(data):
    with pytest.raises(ValueError, match="not a journal entry"):
        decode(data)
