"""On SQLite the API's calls do their database work one at a time, in turn: many at once
all succeed and are all journaled, none overlaps another, and a call kept waiting too long
is answered 503 with Retry-After instead of hanging."""

from __future__ import annotations

import threading

import anyio
import pytest

from apicalls import bearer, personal_token, problem
from coffre import records
from coffre.api import calls
from factories import journal_records

pytestmark = pytest.mark.anyio


def _watched_reads(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count the reads running at once (and the most ever), around the real service."""
    counts = {"now": 0, "most": 0}
    lock, real = threading.Lock(), records.read_patient

    def read_patient(*args, **kwargs):  # type: ignore[no-untyped-def]
        with lock:
            counts["now"] += 1
            counts["most"] = max(counts["most"], counts["now"])
        try:
            return real(*args, **kwargs)
        finally:
            with lock:
                counts["now"] -= 1

    monkeypatch.setattr(records, "read_patient", read_patient)
    return counts


async def test_calls_at_once_take_turns_and_all_are_answered_and_journaled(
    client, sqlite_coffre, world, monkeypatch
):
    counts = _watched_reads(monkeypatch)
    secret = personal_token(sqlite_coffre, world.clinic, "dr.martin", "user/Patient.rs")
    before = len(journal_records(sqlite_coffre))
    statuses = []

    async def read() -> None:
        answer = await client.get(f"/fhir/Patient/{world.patient_id}", headers=bearer(secret))
        statuses.append(answer.status_code)

    async with anyio.create_task_group() as group:
        for _ in range(24):
            group.start_soon(read)
    assert statuses == [200] * 24
    assert counts["most"] == 1
    reads = [
        e for e in journal_records(sqlite_coffre)[before:] if e.action == "records:patient:read"
    ]
    assert len(reads) == 24


async def test_a_call_kept_waiting_too_long_is_told_to_come_back(
    client, sqlite_coffre, world, monkeypatch
):
    monkeypatch.setattr(calls, "TURN_WAIT_SECONDS", 0.2)
    entered, leave = threading.Event(), threading.Event()
    real = records.read_patient

    def slow_read(*args, **kwargs):  # type: ignore[no-untyped-def]
        entered.set()
        leave.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(records, "read_patient", slow_read)
    secret = personal_token(sqlite_coffre, world.clinic, "dr.martin", "user/Patient.rs")
    path = f"/fhir/Patient/{world.patient_id}"
    answers = []

    async def first() -> None:
        answers.append(await client.get(path, headers=bearer(secret)))

    async with anyio.create_task_group() as group:
        group.start_soon(first)
        await anyio.to_thread.run_sync(entered.wait, 10)
        waited = await client.get(path, headers=bearer(secret))
        leave.set()
    problem(waited, 503, "transient")
    assert waited.headers["Retry-After"] == "5"
    [served] = answers
    assert served.status_code == 200
    # The turn was given back: the next call is served.
    monkeypatch.setattr(records, "read_patient", real)
    assert (await client.get(path, headers=bearer(secret))).status_code == 200
