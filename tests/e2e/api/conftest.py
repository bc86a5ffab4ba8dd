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
def api_coffre(coffre: Coffre) -> Coffre:
    """The installation `world` and `client` serve (a module may take SQLite's alone)."""
    return coffre


@pytest.fixture
def world(api_coffre: Coffre) -> World:
    return build_world(api_coffre)


@pytest.fixture
async def client(api_coffre: Coffre, world: World) -> AsyncIterator[httpx.AsyncClient]:
    async with pages_client(api_coffre) as client:
        yield client
