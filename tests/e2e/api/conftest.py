"""The API tests run on asyncio, most of them over one small world of care (careworld)
served by the application in the same process."""

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
def world(sqlite_coffre: Coffre) -> World:
    return build_world(sqlite_coffre)


@pytest.fixture
async def client(sqlite_coffre: Coffre, world: World) -> AsyncIterator[httpx.AsyncClient]:
    async with pages_client(sqlite_coffre) as client:
        yield client
