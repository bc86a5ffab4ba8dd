"""What the account pages share: rendering in the visitor's language, `__Host-` cookies,
the CSRF and origin checks, and form handlers run in the thread pool.

Every form carries a CSRF token: an HMAC of the cookie it goes with (the session, or
before signing in a random form cookie) under a key derived from the system secrets; a
form whose token does not match, or a request from another origin, is refused (403).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from coffre import identity, signin
from coffre.bootstrap import Coffre
from coffre.errors import CoffreError
from coffre.signin.forms import csrf_token, csrf_valid
from coffre.web.i18n import choose, translator

SESSION_COOKIE = "__Host-coffre-session"
FORM_COOKIE = "__Host-coffre-form"
FORM_LIMIT = 8192

Handler = Callable[[Request, dict[str, str]], Response]

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)


def set_cookie(response: Response, name: str, value: str) -> None:
    response.set_cookie(name, value, secure=True, httponly=True, samesite="strict", path="/")


def drop_cookie(response: Response, name: str) -> None:
    response.delete_cookie(name, path="/", secure=True, httponly=True, samesite="strict")


async def _form(request: Request) -> dict[str, str]:
    """The fields of a URL-encoded form (the only kind these pages send), first value of
    each; a body over FORM_LIMIT bytes or of another type reads as empty."""
    if request.headers.get("content-type", "").split(";")[0].strip() != (
        "application/x-www-form-urlencoded"
    ):
        return {}
    body = await request.body()
    if len(body) > FORM_LIMIT:
        return {}
    fields: dict[str, str] = {}
    for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        fields.setdefault(key, value)
    return fields


class Pages:
    """The routes of the sign-in and account pages of one installation, and what their
    handlers share."""

    def __init__(self, coffre: Coffre) -> None:
        self.coffre = coffre
        self.ctx = coffre.signin()
        self.party = coffre.relying_party()
        self.routes = APIRouter()

    def page(
        self,
        request: Request,
        lang: str | None,
        step: str,
        status: int = 200,
        *,
        template: str = "signin.html",
        **values: Any,
    ) -> HTMLResponse:
        """The page of this step, in the visitor's language; a CoffreError given as
        `error` is shown as its translated sentence."""
        language = choose(lang, request.headers.get("accept-language"))
        _ = translator(language)
        error = values.pop("error", None)
        if isinstance(error, signin.SignInRefused) and error.minutes is not None:
            error = _("Too many attempts; try again in {minutes} minutes.").format(
                minutes=error.minutes
            )
        elif isinstance(error, CoffreError):
            error = _(error.message)
        elif error is not None:
            error = _(error)
        html = _templates.get_template(template).render(
            _=_, lang=language, step=step, error=error, **values
        )
        return HTMLResponse(html, status_code=status, headers={"Content-Language": language})

    def refused(self, request: Request, lang: str | None) -> HTMLResponse:
        return self.page(request, lang, "refused", 403)

    def same_origin(self, request: Request) -> bool:
        origin = request.headers.get("origin")
        if origin is None:
            return True  # browsers send it on cross-site POSTs; SameSite covers the rest
        here = f"{request.url.scheme}://{request.url.netloc}"
        return origin in (here, self.party.origin)

    def checked(self, request: Request, bound_to: str | None, token: str) -> bool:
        return self.same_origin(request) and csrf_valid(self.ctx, bound_to, token)

    def posted(self, path: str) -> Callable[[Handler], Handler]:
        """Register a form handler: the body is read here, the handler (which may hash a
        password) runs in the thread pool, never on the event loop."""

        def register(handler: Handler) -> Handler:
            async def endpoint(request: Request) -> Response:
                fields = await _form(request)
                return await run_in_threadpool(handler, request, fields)

            self.routes.add_api_route(path, endpoint, methods=["POST"])
            return handler

        return register

    @staticmethod
    def source(request: Request) -> str:
        return request.client.host if request.client else "unknown"

    @staticmethod
    def session_token(request: Request) -> str | None:
        return request.cookies.get(SESSION_COOKIE)

    def form_seed(self, request: Request) -> str:
        """The random value the forms shown before signing in are bound to."""
        return request.cookies.get(FORM_COOKIE) or secrets.token_urlsafe(32)

    def bound_form(
        self, request: Request, lang: str | None, step: str, status: int = 200, **values: Any
    ) -> HTMLResponse:
        """A page shown before signing in, its form bound to the form cookie."""
        seed = self.form_seed(request)
        response = self.page(request, lang, step, status, csrf=csrf_token(self.ctx, seed), **values)
        set_cookie(response, FORM_COOKIE, seed)
        return response

    @staticmethod
    def gone(exc: CoffreError) -> RedirectResponse:
        """Where a session that cannot do this goes: to its second factor, or to sign in."""
        target = (
            "/signin/second-factor" if isinstance(exc, signin.SecondFactorRequired) else "/signin"
        )
        return RedirectResponse(target, status_code=303)

    def display_name(self, account_id: str) -> str:
        with self.coffre.reader() as uow:
            return identity.find_account(uow, account_id).display_name
