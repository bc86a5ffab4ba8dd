"""Appending to the journal: gapless, ids only, leaf hashes per RFC 6962."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coffre import journal
from coffre.access import Decision, Purpose
from coffre.identity import Actor, ActorKind
from coffre.journal import Entry, EventKind, JournalError, Outcome

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


def test_stored_entries_hash_to_their_leaf_as_rfc6962_defines(coffre):
    with coffre.uow() as uow:
        seqs = journal.append(uow, [_entry("p1"), _entry("p2", "p3")])
        uow.commit()
    assert seqs == [0, 1]
    with coffre.uow() as uow:
        for seq in seqs:
            data, leaf = journal.entry_bytes(uow, seq)
            assert leaf == hashlib.sha256(b"\x00" + data).digest()
            decoded = json.loads(data)
            assert decoded["seq"] == seq and decoded["v"] == 1
            assert decoded["time"].endswith("Z")
        with pytest.raises(JournalError):
            journal.entry_bytes(uow, 99)
        assert journal.size(uow) == 2


def test_a_patient_sees_every_entry_that_names_them(coffre):
    with coffre.uow() as uow:
        journal.append(uow, [_entry("p1"), _entry("p2"), _entry("p1", "p2")])
        assert journal.append(uow, []) == []
        uow.commit()
    with coffre.uow() as uow:
        history = journal.entries_for_patient(uow, "p1")
    assert [h["seq"] for h in history] == [0, 2]
    assert history[0]["action"] == "records:patient:create"
    assert history[0]["rule"] == "operator-import"


def test_an_append_that_is_not_committed_leaves_no_trace(coffre):
    with coffre.uow() as uow:
        journal.append(uow, [_entry("p1")])
    with coffre.uow() as uow:
        assert journal.size(uow) == 0
        journal.append(uow, [_entry("p1")])
        uow.commit()
    with coffre.uow() as uow:
        assert journal.size(uow) == 1
        assert journal.entry_bytes(uow, 0)[0]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    moment=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
    ids=st.lists(st.uuids().map(str), max_size=4),
)
def test_canonical_bytes_survive_the_round_trip_through_the_database(sqlite_coffre, moment, ids):
    with sqlite_coffre.uow() as uow:
        [seq] = journal.append(uow, [_entry(*ids, when=moment)])
        uow.commit()
    with sqlite_coffre.uow() as uow:
        data, leaf = journal.entry_bytes(uow, seq)
    assert hashlib.sha256(b"\x00" + data).digest() == leaf
    assert json.loads(data)["patients"] == ids
