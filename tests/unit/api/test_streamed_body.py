"""The request body as a stream for a service in a worker thread: each read answers the
size asked (less only at the end), holds at most that and one piece of the body, and a
client that goes away or stalls ends the upload with an OperationOutcome."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import anyio
import anyio.to_thread
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coffre.api.outcomes import Problem
from coffre.api.uploads import StreamedBody

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def messages_of(pieces: Iterable[bytes], end: str = "complete") -> Callable[[], Any]:
    """An ASGI `receive` giving these pieces, then the end of the body, a disconnect, or
    nothing ever again."""
    queue: list[dict[str, Any]] = [
        {"type": "http.request", "body": piece, "more_body": True} for piece in pieces
    ]
    if end == "complete":
        queue.append({"type": "http.request", "body": b"", "more_body": False})
    elif end == "disconnect":
        queue.append({"type": "http.disconnect"})

    async def receive() -> dict[str, Any]:
        if not queue:
            await anyio.sleep_forever()
        return queue.pop(0)

    return receive


def read_all(body: StreamedBody, size: int) -> list[bytes]:
    reads = []
    while read := body.read(size):
        reads.append(read)
    return reads


@settings(max_examples=30, deadline=None)
@given(
    pieces=st.lists(st.binary(min_size=0, max_size=300), max_size=20),
    size=st.integers(min_value=1, max_value=500),
)
def test_reads_are_full_and_hold_at_most_one_read_and_one_piece(
    pieces: list[bytes], size: int
) -> None:
    async def scenario() -> None:
        body = StreamedBody(messages_of(pieces))
        reads = await anyio.to_thread.run_sync(read_all, body, size)
        assert b"".join(reads) == b"".join(pieces)
        assert all(len(r) == size for r in reads[:-1])
        assert body.peak <= size + max((len(p) for p in pieces), default=0)

    anyio.run(scenario)


async def test_a_client_that_disconnects_ends_the_upload() -> None:
    body = StreamedBody(messages_of([b"%PDF-", b"1.7"], end="disconnect"))
    assert await anyio.to_thread.run_sync(body.read, 4) == b"%PDF"
    with pytest.raises(Problem) as ended:
        await anyio.to_thread.run_sync(body.read, 100)
    assert (ended.value.status, ended.value.code) == (400, "incomplete")


async def test_a_client_that_stalls_ends_the_upload() -> None:
    body = StreamedBody(messages_of([b"%PDF-"], end="stall"), stall_seconds=0.05)
    with pytest.raises(Problem) as ended:
        await anyio.to_thread.run_sync(body.read, 100)
    assert (ended.value.status, ended.value.code) == (408, "timeout")


def test_the_body_is_never_read_whole() -> None:
    with pytest.raises(ValueError, match="bounded"):
        StreamedBody(messages_of([])).read()
