"""The calls' turns at SQLite: free while no call is away, every waiting call goes on as soon
as the one away is back (all of them, not one per pass of the loop), a call that goes away
again keeps the others waiting, and a wait has a limit."""

from __future__ import annotations

import anyio
import pytest

from coffre.api import calls
from coffre.api.calls import Turns

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_turns_are_free_while_no_call_is_away() -> None:
    turns = Turns()
    assert turns.free
    with anyio.fail_after(1):
        await turns.wait()
    with turns.away():
        assert not turns.free
    assert turns.free


async def test_every_waiting_call_goes_on_when_the_one_away_is_back() -> None:
    turns, went_on = Turns(), []

    async def call(n: int) -> None:
        await turns.wait()
        went_on.append(n)

    async with anyio.create_task_group() as group:
        with turns.away():
            for n in range(5):
                group.start_soon(call, n)
            await anyio.sleep(0.05)
            assert went_on == []
        # One pass of the loop lets them all go on, in the order they came.
        await anyio.sleep(0)
        await anyio.sleep(0)
        assert went_on == [0, 1, 2, 3, 4]
        assert turns.free


async def test_a_call_that_goes_away_again_keeps_the_others_waiting() -> None:
    turns, went_on = Turns(), []
    second_away = anyio.Event()
    release = anyio.Event()

    async def goes_away_again() -> None:
        await turns.wait()
        with turns.away():
            second_away.set()
            await release.wait()
        went_on.append("away")

    async def waits() -> None:
        await anyio.sleep(0.01)  # comes after goes_away_again
        await turns.wait()
        went_on.append("waited")

    async with anyio.create_task_group() as group:
        with turns.away():
            group.start_soon(goes_away_again)
            group.start_soon(waits)
            await anyio.sleep(0.05)
        await second_away.wait()
        await anyio.sleep(0.05)
        assert went_on == []  # still waiting for the second call away
        release.set()
    assert went_on == ["away", "waited"]


async def test_a_wait_has_a_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(calls, "TURN_WAIT_SECONDS", 0.05)
    turns = Turns()
    with turns.away(), pytest.raises(TimeoutError):
        await turns.wait()
    assert turns.free
