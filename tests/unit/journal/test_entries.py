"""Canonical bytes: `encode` and `rows` against a spelling built here with the standard
json module (keys sorted, no whitespace, ASCII), and times against strftime."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coffre.access import Decision, Purpose
from coffre.identity import Actor, ActorKind
from coffre.journal import Entry, EventKind, Outcome
from coffre.journal.entries import decode, encode, halves, patient_ids, rows, timestamp

texts = st.text(max_size=24)
ids = st.text(min_size=1, max_size=24)
actors = st.builds(
    Actor,
    kind=st.sampled_from(list(ActorKind)),
    id=ids,
    organisation_id=st.none() | ids,
    session_id=st.none() | ids,
    source=texts,
)
decisions = st.builds(
    Decision,
    allowed=st.booleans(),
    rule=ids,
    explanation=texts,
    facts=st.dictionaries(ids, texts, max_size=4),
)
zones = st.sampled_from(
    [UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=-5, minutes=-30))]
)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.none() | zones
)


def _reference(seq: int, entry: Entry, time: str) -> bytes:
    actor, decision = entry.actor, entry.decision
    document = {
        "action": str(entry.kind),
        "actor": {
            "id": actor.id,
            "kind": str(actor.kind),
            "organisation": actor.organisation_id,
            "session": actor.session_id,
            "source": actor.source,
        },
        "decision": {
            "facts": dict(decision.facts),
            "result": "allow" if decision.allowed else "deny",
            "rule": decision.rule,
            "why": decision.explanation,
        },
        "outcome": str(entry.outcome),
        "patients": sorted(set(entry.patient_ids)),
        "purpose": None if entry.purpose is None else str(entry.purpose),
        "resources": list(entry.resource_ids),
        "seq": seq,
        "time": time,
        "v": 1,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode("ascii")


@given(moment=moments)
def test_a_time_is_spelt_in_utc_with_microseconds(moment: datetime) -> None:
    utc = moment if moment.tzinfo is None else moment.astimezone(UTC)
    assert timestamp(moment) == utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@given(
    first=st.integers(0, 10**9),
    shared=st.tuples(actors, decisions),
    entries=st.lists(
        st.tuples(
            st.none() | actors,  # None: the batch's shared actor
            st.none() | decisions,
            st.sampled_from(list(EventKind)),
            st.sampled_from(list(Outcome)),
            st.none() | st.sampled_from(list(Purpose)),
            st.lists(ids, max_size=3),
            st.lists(ids, max_size=3),
            moments,
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_rows_spell_each_entry_as_the_reference_does(first, shared, entries) -> None:  # type: ignore[no-untyped-def]
    batch = [
        Entry(
            kind,
            actor or shared[0],
            decision or shared[1],
            outcome,
            purpose,
            tuple(patients),
            tuple(resources),
            moment,
        )
        for actor, decision, kind, outcome, purpose, patients, resources, moment in entries
    ]
    found = rows(first, batch)
    parts = halves(batch)
    for seq, entry, row, (head, tail) in zip(
        range(first, first + len(batch)), batch, found, parts, strict=True
    ):
        time = timestamp(entry.recorded_at)
        assert row == (seq, encode(seq, entry, time))
        assert row[1] == _reference(seq, entry, time)
        # What a database numbering the entries as it stores them writes (PostgreSQL).
        assert head + str(seq).encode("ascii") + tail == row[1]
        # The links' upkeep reads the patients alone, and reads what the record holds.
        assert tuple(patient_ids(row[1])) == decode(row[1]).patient_ids


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"[1, 2]", "version-1"),
        (b'{"v": 2, "patients": []}', "version-1"),
        (b'{"v": 1, "patients": "p1"}', "list of ids"),
        (b'{"v": 1, "patients": ["p1", 7]}', "list of ids"),
        (b'{"v": 1, "patients": [', "not a journal entry"),
    ],
)
def test_patients_are_read_only_from_a_version_1_entry(data: bytes, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        patient_ids(data)


def test_what_orjson_cannot_read_is_read_as_the_record_is() -> None:
    """An integer beyond 64 bits (not one Coffre writes, but bytes are bytes) is read by
    the standard library, as `decode` reads it."""
    entry = Entry(
        EventKind.PATIENT_READ,
        Actor(ActorKind.ACCOUNT, "a1", None, None, "test"),
        Decision(True, "r", "why"),
        Outcome.SUCCESS,
        None,
        ("p1", "p2"),
    )
    data = encode(7, entry, timestamp(entry.recorded_at)).replace(b'"seq":7', b'"seq":' + b"9" * 25)
    assert patient_ids(data) == ["p1", "p2"]


@given(
    st.lists(
        st.datetimes(
            min_value=datetime(1, 1, 2),
            max_value=datetime(9999, 12, 30),
            timezones=st.none()
            | st.sampled_from([UTC, timezone(timedelta(hours=-11, minutes=-30))])
            | st.builds(timezone, st.timedeltas(timedelta(hours=-23), timedelta(hours=23))),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_times_are_spelled_as_utc_with_microseconds_however_often_a_second_recurs(moments):
    for moment in [*moments, *moments]:  # the second time, each second comes from the cache
        utc = moment if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)
        reference = (
            f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:"
            f"{utc.second:02d}.{utc.microsecond:06d}Z"
        )
        assert timestamp(moment) == reference
