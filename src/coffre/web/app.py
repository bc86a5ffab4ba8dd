from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from coffre import identity, journal
from coffre.api import describe as describe_fhir
from coffre.api import router as fhir_router
from coffre.bootstrap import Coffre, WouldWait
from coffre.errors import CoffreError
from coffre.web.i18n import LOCALES, choose, language_name, translator
from coffre.web.signin import router as signin_router
from coffre.web.token import router as token_router

_HERE = Path(__file__).parent
_templates = Environment(
    loader=FileSystemLoader(_HERE / "templates"),
    autoescape=select_autoescape(["html"]),
)

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    # Not "no-referrer": under it browsers send `Origin: null` with every form, and the
    # pages' same-origin check would refuse them all. Other sites still get no referrer.
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


log = logging.getLogger("coffre.web")


_HEADERS = tuple(
    (name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()
)
_HEADER_NAMES = frozenset(name for name, _ in _HEADERS)


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every HTTP answer, replacing any the route set. A plain
    ASGI middleware: it touches only the start of the answer, never buffers or re-streams
    the body (Starlette's `BaseHTTPMiddleware` does, at a cost on every request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [
                    (k, v) for k, v in message.get("headers", ()) if k.lower() not in _HEADER_NAMES
                ]
                message = {**message, "headers": [*kept, *_HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


# How far behind the journal's links and stored hashes may be for the upkeep to bring them
# up on the event loop (a few hundred entries, a quarter of a second of a busy server's,
# take 2 to 3 ms); further behind (a command appended many entries), it works in a thread.
# The upkeep runs ten times a second: the shorter each pass, the less the calls it comes
# between wait (measured at 32 connections: p99 24.4-24.7 ms every 0.1 s or 0.05 s,
# against 25.6 ms every 0.25 s, with as many reads per second).
UPKEEP_ON_LOOP_ENTRIES = 4 * 256


async def _upkeep(coffre: Coffre, every: float, *, flush_wal: bool) -> None:
    """For as long as the server runs: index the journal's new entries, publish a
    checkpoint whenever one is due and, with `flush_wal`, copy the database's write-ahead
    log into its file (see `Coffre.flush_wal_apart`)."""
    while True:
        try:
            try:
                stored = upkeep_at_once(coffre)
            except WouldWait:
                await asyncio.to_thread(coffre.index_journal)
                stored = await asyncio.to_thread(coffre.checkpoint_if_due, publish=False)
            if stored is not None:
                await asyncio.to_thread(coffre.publish, stored)
        except CoffreError as exc:
            log.error("no checkpoint was published: %s", exc.message)
        except Exception as exc:  # noqa: BLE001 (the upkeep outlives any one pass's failure)
            # Its type alone: a database error's text may quote the values it was sent.
            log.error("the journal's upkeep failed (%s); it runs again", type(exc).__name__)
        if flush_wal:
            try:
                await asyncio.to_thread(coffre.flush_wal)
            except CoffreError as exc:
                log.error("%s", exc.message)
        await asyncio.sleep(every)


def upkeep_at_once(coffre: Coffre) -> journal.Checkpoint | None:
    """On SQLite, the upkeep's writes done on the event loop itself, between two calls,
    as the calls do theirs (`api.calls.Api.run`): index the journal's new entries, then
    sign and store a checkpoint if one is due; return it (for publishing), or None.

    In a thread the same writes took 8 and 45 ms under load instead of 3 or 4: each
    statement waited for the interpreter's lock behind the loop, and the calls that found
    the write lock held meanwhile waited for the thread, so the slowest hundredth of the
    calls took a third as long again. Raise WouldWait, having written nothing, when the
    work is for a thread: on PostgreSQL (the calls run in threads there too), when the
    journal is far behind (UPKEEP_ON_LOOP_ENTRIES), or when the write turn is taken."""
    if not coffre.one_writer:
        raise WouldWait("The database takes writers side by side: the upkeep needs no turn.")
    with coffre.at_once():
        coffre.index_journal(at_most=UPKEEP_ON_LOOP_ENTRIES)
    with coffre.at_once():
        return coffre.checkpoint_if_due(publish=False)


def create_app(coffre: Coffre, *, checkpoint_poll_seconds: float = 0.1) -> FastAPI:
    """The ASGI application over one opened installation; while it runs, the journal's
    patient links are kept up to date, its checkpoints published as configured and, on
    SQLite, the write-ahead log copied into the database file, apart from the calls (a
    commit that copies it makes every call queued behind it wait for the copy). Every
    tenth of a second by default: the entries linked late (after a command appended some
    while the links lagged) are indexed in small batches that hold the write lock briefly,
    and the log copied stays small."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        with coffre.flush_wal_apart() as apart:
            task = asyncio.create_task(_upkeep(coffre, checkpoint_poll_seconds, flush_wal=apart))
            try:
                yield
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(title="Coffre", docs_url=None, redoc_url=None, lifespan=lifespan)

    app.add_middleware(SecurityHeaders)

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request, lang: str | None = None) -> HTMLResponse:
        language = choose(lang, request.headers.get("accept-language"))
        with coffre.reader() as uow:
            organisations = identity.list_organisations(uow)
            entries = journal.size(uow)
        page = _templates.get_template("home.html").render(
            _=translator(language),
            lang=language,
            languages=[(code, language_name(code)) for code in LOCALES],
            organisations=organisations,
            journal_entries=entries,
            demo=coffre.settings.environment.value == "demo",
        )
        return HTMLResponse(page, headers={"Content-Language": language})

    # The API first: routes are tried in order, and the API's calls are the many; a page
    # is a person's click, and trying the API's routes first costs it a fraction of its own.
    # The routers' routes join the app's own list (their prefixes are in their paths)
    # rather than being included: an included router is searched on every request, twice,
    # each time walking its routes to see whether they changed (measured: 50 us of an
    # audited read's 690 us in the app).
    for routes in (fhir_router(coffre), signin_router(coffre), token_router(coffre)):
        app.router.routes.extend(routes.routes)
    describe_fhir(app)
    # Page scripts are files, never inline: the CSP's script source stays 'self' alone.
    app.mount("/static", StaticFiles(directory=_HERE / "static"), name="static")

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        with coffre.reader() as uow:
            journal.size(uow)
        return JSONResponse({"status": "ok"})

    return app
