"""On SQLite the API's calls do their database work one at a time, in turn, on the event
loop: many at once all succeed and are all journaled, none overlaps another, a call that
finds the database held waits in a thread without holding up the loop, and a call kept
waiting too long is answered 503 with Retry-After instead of hanging."""

from __future__ import annotations

import threading
from typing import Any

import anyio
import pytest

from apicalls import bearer, personal_token, problem
from coffre import records
from coffre.api import calls
from coffre.bootstrap import Coffre
from factories import journal_records
from writeturn import write_turn_held

pytestmark = pytest.mark.anyio


# Turns are SQLite's: this module's world and client are on SQLite alone.
@pytest.fixture
def api_coffre(sqlite_coffre: Coffre) -> Coffre:
    return sqlite_coffre


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


class _Reader:
    """Reads of world's patient by dr.martin with a token, their answers kept."""

    def __init__(self, client, coffre, world) -> None:  # type: ignore[no-untyped-def]
        self.client = client
        self.secret = personal_token(coffre, world.clinic, "dr.martin", "user/Patient.rs")
        self.path = f"/fhir/Patient/{world.patient_id}"
        self.answers: list[Any] = []

    async def get(self) -> Any:
        return await self.client.get(self.path, headers=bearer(self.secret))

    async def read(self) -> None:
        self.answers.append(await self.get())


async def test_a_call_that_finds_the_database_held_waits_in_a_thread_and_the_loop_goes_on(
    client, sqlite_coffre, world
):
    """A call's work runs on the event loop; when the write turn is taken it has done
    nothing yet, and waits in a worker thread instead: other requests are answered
    meanwhile, and the call is answered and journaled once when the turn comes."""
    reader = _Reader(client, sqlite_coffre, world)
    before = len(journal_records(sqlite_coffre))
    with write_turn_held(sqlite_coffre) as release:
        async with anyio.create_task_group() as group:
            group.start_soon(reader.read)
            await anyio.sleep(0.2)
            assert not reader.answers  # waiting, in a thread
            metadata = await client.get("/fhir/metadata")
            assert metadata.status_code == 200  # the loop was not held
            release.set()
    [answer] = reader.answers
    assert answer.status_code == 200
    reads = [
        e for e in journal_records(sqlite_coffre)[before:] if e.action == "records:patient:read"
    ]
    assert len(reads) == 1


async def test_a_call_kept_waiting_too_long_is_told_to_come_back(
    client, sqlite_coffre, world, monkeypatch
):
    monkeypatch.setattr(calls, "TURN_WAIT_SECONDS", 0.2)
    reader = _Reader(client, sqlite_coffre, world)
    with write_turn_held(sqlite_coffre) as release:
        async with anyio.create_task_group() as group:
            group.start_soon(reader.read)
            await anyio.sleep(0.1)  # the first call holds its turn, waiting in a thread
            waited = await reader.get()
            release.set()
    problem(waited, 503, "transient")
    assert waited.headers["Retry-After"] == "5"
    [served] = reader.answers
    assert served.status_code == 200
    # The turn was given back: the next call is served.
    assert (await reader.get()).status_code == 200
