"""The API tests run on asyncio, most of them over one small world of care (careworld)
served by the application in the same process, on SQLite and on PostgreSQL (where the
calls run in worker threads, side by side, not in turns on the event loop)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from careworld import World, build_world
from coffre.bootstrap import Coffre
from webpages import pages_client


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def world(coffre: Coffre) -> World:
    return build_world(coffre)


@pytest.fixture
async def client(coffre: Coffre, world: World) -> AsyncIterator[httpx.AsyncClient]:
    async with pages_client(coffre) as client:
        yield client
