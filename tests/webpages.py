"""Pages over ASGI for tests: a client, and the form token a page carries."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from coffre.bootstrap import Coffre
from coffre.web import create_app


@asynccontextmanager
async def pages_client(coffre: Coffre) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app over ASGI, from one address, on the https origin the cookies
    need."""
    transport = httpx.ASGITransport(app=create_app(coffre), client=("198.51.100.7", 1234))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        yield client


def csrf(page: httpx.Response) -> str:
    """The CSRF token of the page's form."""
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)
