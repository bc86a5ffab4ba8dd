from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from coffre import identity, journal
from coffre.bootstrap import Coffre
from coffre.web.i18n import LOCALES, choose, language_name, translator

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def create_app(coffre: Coffre) -> FastAPI:
    """The ASGI application over one opened installation."""
    app = FastAPI(title="Coffre", docs_url=None, redoc_url=None)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request, lang: str | None = None) -> HTMLResponse:
        language = choose(lang, request.headers.get("accept-language"))
        with coffre.uow() as uow:
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

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        with coffre.uow() as uow:
            journal.size(uow)
        return JSONResponse({"status": "ok"})

    return app
