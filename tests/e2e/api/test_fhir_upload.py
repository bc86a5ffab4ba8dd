"""A document larger than the body limit, sent as itself to `POST /fhir/Binary` and streamed
into the vault: read back identical; refused past the vault's document limit, when its
content is not of its type, without saying whose it is, to a professional without a care
relationship; and a client that stops mid-way leaves nothing behind. This installation takes
FHIR JSON bodies of 64 KiB at most, documents of 4 MiB at most, one upload at a time."""

from __future__ import annotations

import hashlib
import itertools
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest
import sqlalchemy as sa

from apicalls import bearer, personal_token, problem
from careworld import World
from coffre.bootstrap import Coffre
from coffre.config import Settings
from coffre.web import create_app

pytestmark = pytest.mark.anyio

BODY_LIMIT = 64 * 1024
DOCUMENT_LIMIT = 4 * 1024 * 1024
PIECE = 16 * 1024


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_overrides(
        api_max_body_bytes=BODY_LIMIT, document_max_bytes=DOCUMENT_LIMIT, api_max_uploads=1
    )


def document(size: int) -> Iterator[bytes]:
    """A PDF of `size` bytes in pieces: the first one shorter than the PDF signature, the
    others of PIECE bytes, each different (made on the fly, never held whole)."""
    yield b"%PD"
    sent, index = 3, 0
    head = b"F-1.7\n"
    while sent < size:
        piece = (head + hashlib.sha256(index.to_bytes(8)).digest() * (PIECE // 32))[: size - sent]
        head, index, sent = b"", index + 1, sent + len(piece)
        yield piece


def digest_of(pieces: Iterator[bytes]) -> str:
    return hashlib.sha256(b"".join(pieces)).hexdigest()


async def streamed(pieces: Iterator[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


def headers_of(coffre: Coffre, world: World, username: str, **more: str) -> dict[str, str]:
    secret = personal_token(coffre, world.clinic, username, more.pop("scopes", "user/*.cruds"))
    return {
        **bearer(secret),
        "Content-Type": "application/pdf",
        "X-Security-Context": f"Patient/{world.patient_id}",
        **more,
    }


def written(coffre: Coffre) -> tuple[int, ...]:
    """How many documents, chunks, journal entries and chunks of uploads under way the
    database holds."""
    with coffre.engine.connect() as conn:
        return tuple(
            int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())
            for table in ("documents", "document_chunks", "journal_entries", "document_uploads")
        )


async def test_a_document_larger_than_the_body_limit_is_streamed_in_and_read_back(
    client, coffre, world
):
    size = 16 * BODY_LIMIT + 12_345
    headers = headers_of(
        coffre,
        world,
        "dr.martin",
        **{
            "Content-Disposition": "attachment; filename*=UTF-8''compte-rendu-op%C3%A9ratoire.pdf",
            "Content-Description": "=?utf-8?q?Compte_rendu_op=C3=A9ratoire?=",
            "X-Category": "urn:coffre:category|results",
        },
    )
    created = await client.post("/fhir/Binary", headers=headers, content=streamed(document(size)))
    assert created.status_code == 201, created.text
    described = created.json()
    new_id = described["id"]
    assert created.headers["location"].endswith(f"/fhir/Binary/{new_id}")
    assert described["resourceType"] == "DocumentReference"
    assert described["subject"] == {"reference": f"Patient/{world.patient_id}"}
    assert described["description"] == "Compte rendu opératoire"
    attachment = described["content"][0]["attachment"]
    assert attachment == {
        "contentType": "application/pdf",
        "url": f"Binary/{new_id}",
        "size": size,
        "title": "compte-rendu-opératoire.pdf",
    }
    assert described["meta"]["tag"] == [{"system": "urn:coffre:category", "code": "results"}]
    reader = headers_of(coffre, world, "dr.martin")
    again = await client.get(f"/fhir/DocumentReference/{new_id}", headers=reader)
    assert again.json() == described
    content = await client.get(f"/fhir/Binary/{new_id}", headers=reader)
    assert content.headers["content-type"] == "application/pdf"
    assert hashlib.sha256(content.content).hexdigest() == digest_of(document(size))


async def peak_of_upload(client, headers: dict[str, str], size: int) -> int:  # type: ignore[no-untyped-def]
    """The most memory Python held at once while the document was sent and stored."""
    tracemalloc.start()
    try:
        created = await client.post(
            "/fhir/Binary", headers=headers, content=streamed(document(size))
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert created.status_code == 201, created.text
    assert created.json()["content"][0]["attachment"]["size"] == size
    return peak


async def test_the_memory_an_upload_takes_does_not_grow_with_the_document(client, coffre, world):
    headers = headers_of(coffre, world, "dr.martin")
    # Both past the first megabyte, which is read whole (no more than a FHIR body).
    half = await peak_of_upload(client, headers, DOCUMENT_LIMIT // 2)
    whole = await peak_of_upload(client, headers, DOCUMENT_LIMIT)
    # Held whole, the larger document alone would take 2 MiB more.
    assert whole < half + DOCUMENT_LIMIT // 8, (half, whole)


async def test_a_document_over_the_vault_limit_is_refused_and_nothing_is_written(
    client, coffre, world
):
    headers = headers_of(coffre, world, "dr.martin")
    before = written(coffre)
    unannounced = await client.post(
        "/fhir/Binary", headers=headers, content=streamed(document(DOCUMENT_LIMIT + 1))
    )
    assert str(DOCUMENT_LIMIT) in problem(unannounced, 413, "too-costly")
    announced = await client.post(
        "/fhir/Binary",
        headers={**headers, "Content-Length": str(DOCUMENT_LIMIT + 1)},
        content=streamed(iter([b"%PDF-"])),
    )
    problem(announced, 413, "too-costly")
    assert written(coffre) == before


async def test_a_document_whose_content_is_not_its_type_is_refused(client, coffre, world):
    headers = headers_of(coffre, world, "dr.martin")
    before = written(coffre)
    lying = await client.post(
        "/fhir/Binary",
        headers={**headers, "Content-Type": "image/png"},
        content=streamed(document(3 * BODY_LIMIT)),
    )
    problem(lying, 422, "business-rule")
    unknown = await client.post(
        "/fhir/Binary", headers={**headers, "Content-Type": "text/plain"}, content=b"hello"
    )
    problem(unknown, 422, "business-rule")
    for media in (None, "application/fhir+json"):
        sent = {k: v for k, v in headers.items() if k != "Content-Type"}
        if media is not None:
            sent["Content-Type"] = media
        problem(
            await client.post("/fhir/Binary", headers=sent, content=b"{}"), 415, "not-supported"
        )
    assert written(coffre) == before


@pytest.mark.parametrize(
    ("context", "code"),
    [(None, "required"), ("Observation/x", "invalid"), ("Patient/not an id", "invalid")],
)
async def test_whose_document_it_is_must_be_said(client, coffre, world, context, code):
    headers = headers_of(coffre, world, "dr.martin")
    del headers["X-Security-Context"]
    if context is not None:
        headers["X-Security-Context"] = context
    refused = await client.post("/fhir/Binary", headers=headers, content=b"%PDF-1.7")
    problem(refused, 400, code)
    assert refused.json()["issue"][0]["expression"] == ["X-Security-Context"]


async def test_bad_description_headers_are_refused(client, coffre, world):
    headers = headers_of(coffre, world, "dr.martin")
    for name, value in (("X-Category", "holiday-photos"), ("Content-Disposition", "form-data")):
        refused = await client.post(
            "/fhir/Binary", headers={**headers, name: value}, content=b"%PDF-1.7"
        )
        problem(refused, 400, "code-invalid" if name == "X-Category" else "invalid")


async def test_an_anonymous_upload_is_answered_401_before_anything_is_judged(client, world):
    refused = await client.post("/fhir/Binary", content=b"%PDF-1.7")
    problem(refused, 401, "login")


async def test_a_professional_without_relationship_learns_nothing(client, coffre, world):
    headers = headers_of(coffre, world, "dr.bernard")
    before = written(coffre)
    forbidden = await client.post("/fhir/Binary", headers=headers, content=b"%PDF-1.7")
    said = problem(forbidden, 403, "forbidden")
    assert said.startswith("Access denied by rule no-care-relationship: ")
    nobody = await client.post(
        "/fhir/Binary",
        headers={**headers, "X-Security-Context": f"Patient/{uuid.uuid4()}"},
        content=b"%PDF-1.7",
    )
    problem(nobody, 403, "forbidden")
    assert nobody.json() == forbidden.json()
    # The two refusals are journaled; no document is written.
    documents, chunks, entries, uploading = written(coffre)
    assert (documents, chunks, entries, uploading) == (before[0], before[1], before[2] + 2, 0)


async def test_the_token_needs_the_document_create_scope(client, coffre, world):
    headers = headers_of(coffre, world, "dr.martin", scopes="user/Binary.c")
    said = problem(
        await client.post("/fhir/Binary", headers=headers, content=b"%PDF-"), 403, "forbidden"
    )
    assert "user/DocumentReference.c" in said


async def test_an_upload_that_fails_mid_way_leaves_nothing(client, coffre, world):
    headers = headers_of(coffre, world, "dr.martin")
    before = written(coffre)

    async def broken() -> AsyncIterator[bytes]:
        for index, piece in enumerate(document(DOCUMENT_LIMIT)):
            if index == 40:
                raise ConnectionResetError("the client went away")
            yield piece

    with pytest.raises(ConnectionResetError):
        await client.post("/fhir/Binary", headers=headers, content=broken())
    assert written(coffre) == before


async def test_a_client_that_disconnects_mid_way_leaves_nothing(coffre, world):
    """As a server tells the application: `http.disconnect` after part of the body."""
    headers = headers_of(coffre, world, "dr.martin")
    before = written(coffre)
    # Forty pieces of the body (640 KiB), then the client is gone.
    messages = itertools.chain(
        ({"type": "http.request", "body": p, "more_body": True} for p in document(40 * PIECE)),
        [{"type": "http.disconnect"}],
    )
    sent: list[dict] = []

    async def receive() -> dict:
        return next(messages)

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "server": ("testserver", 443),
        "client": ("198.51.100.7", 1234),
        "root_path": "",
        "path": "/fhir/Binary",
        "raw_path": b"/fhir/Binary",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    await create_app(coffre)(scope, receive, send)
    assert sent[0]["status"] == 400
    assert b'"incomplete"' in sent[1]["body"]
    assert written(coffre) == before


async def test_an_upload_while_too_many_arrive_is_turned_away(client, coffre, world):
    headers = headers_of(coffre, world, "dr.martin")
    arriving, go_on = anyio.Event(), anyio.Event()

    async def slow() -> AsyncIterator[bytes]:
        for index, piece in enumerate(document(40 * PIECE)):
            if index == 20:
                arriving.set()
                await go_on.wait()
            yield piece

    answers = []

    async def first() -> None:
        answers.append(await client.post("/fhir/Binary", headers=headers, content=slow()))

    async with anyio.create_task_group() as group:
        group.start_soon(first)
        await arriving.wait()
        turned_away = await client.post(
            "/fhir/Binary", headers=headers, content=streamed(document(PIECE))
        )
        go_on.set()
    problem(turned_away, 503, "transient")
    assert turned_away.headers["Retry-After"] == "10"
    [filed] = answers
    assert filed.status_code == 201, filed.text
    again = await client.post("/fhir/Binary", headers=headers, content=streamed(document(PIECE)))
    assert again.status_code == 201, again.text
