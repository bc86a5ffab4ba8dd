"""The home page over ASGI: served, translated, and free of patient data."""

from __future__ import annotations

import httpx
import pytest

from coffre.web import create_app

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client(sqlite_coffre):  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=create_app(sqlite_coffre))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.mark.parametrize(
    ("query", "accept", "expected", "lang"),
    [
        ("", "fr-BE,fr;q=0.9", "Ce que Coffre garantit", "fr"),
        ("", "nl-BE", "Wat Coffre belooft", "nl"),
        ("", "de-DE", "What Coffre promises", "en"),
        ("?lang=nl", "fr", "Wat Coffre belooft", "nl"),
    ],
)
async def test_the_home_page_speaks_the_visitors_language(client, query, accept, expected, lang):
    response = await client.get(f"/{query}", headers={"Accept-Language": accept})
    assert response.status_code == 200
    assert expected in response.text
    assert f'<html lang="{lang}">' in response.text
    assert response.headers["content-language"] == lang
    assert response.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in response.headers["content-security-policy"]


async def test_health_answers(client):
    response = await client.get("/healthz")
    assert response.json() == {"status": "ok"}


async def test_a_running_server_publishes_due_checkpoints(sqlite_coffre):
    import asyncio

    from coffre import journal
    from coffre.access import Decision
    from coffre.identity import local_operator
    from coffre.journal import Entry, EventKind, Outcome

    with sqlite_coffre.uow() as uow:
        entry = Entry(
            EventKind.KEY_ROTATE, local_operator(), Decision(True, "r", "why"), Outcome.SUCCESS
        )
        journal.append(uow, [entry])
        uow.commit()
    app = create_app(sqlite_coffre, checkpoint_poll_seconds=0.05)
    async with app.router.lifespan_context(app):
        for _ in range(100):
            if sqlite_coffre.publisher.newest():
                break
            await asyncio.sleep(0.05)
    note = sqlite_coffre.publisher.newest()
    assert note is not None
    assert sqlite_coffre.signer.verifier.open(note).size == 1
