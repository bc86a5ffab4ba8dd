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

from coffre import identity, journal
from coffre.api import router as fhir_router
from coffre.bootstrap import Coffre
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


async def _checkpoints(coffre: Coffre, every: float) -> None:
    """Index the journal's new entries and publish a checkpoint whenever one is due, for as
    long as the server runs."""
    while True:
        try:
            await asyncio.to_thread(coffre.index_journal)
            await asyncio.to_thread(coffre.checkpoint_if_due)
        except CoffreError as exc:
            log.error("no checkpoint was published: %s", exc.message)
        await asyncio.sleep(every)


def create_app(coffre: Coffre, *, checkpoint_poll_seconds: float = 1.0) -> FastAPI:
    """The ASGI application over one opened installation; while it runs, checkpoints of the
    journal are published as configured."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_checkpoints(coffre, checkpoint_poll_seconds))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = FastAPI(title="Coffre", docs_url=None, redoc_url=None, lifespan=lifespan)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

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

    app.include_router(signin_router(coffre))
    app.include_router(token_router(coffre))
    app.include_router(fhir_router(coffre))
    # Page scripts are files, never inline: the CSP's script source stays 'self' alone.
    app.mount("/static", StaticFiles(directory=_HERE / "static"), name="static")

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        with coffre.reader() as uow:
            journal.size(uow)
        return JSONResponse({"status": "ok"})

    return app
