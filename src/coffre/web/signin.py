"""Signing in on the web: server-rendered forms that work without JavaScript.

The session id lives in a `__Host-` cookie (Secure, HttpOnly, SameSite=Strict, Path=/, no
Domain). Every form carries a CSRF token: an HMAC of the cookie it goes with (the session,
or before signing in a random form cookie) under a key derived from the system secrets;
a form whose token does not match, or a request from another origin, is refused (403).
The handlers are plain functions, which FastAPI runs in its thread pool: password hashing
never blocks the event loop.
"""

from __future__ import annotations

import contextlib
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
from coffre.identity import mfa
from coffre.signin.forms import csrf_token, csrf_valid, open_field, seal_field
from coffre.web.i18n import choose, translator

SESSION_COOKIE = "__Host-coffre-session"
FORM_COOKIE = "__Host-coffre-form"

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)


def _cookie(response: Response, name: str, value: str) -> None:
    response.set_cookie(name, value, secure=True, httponly=True, samesite="strict", path="/")


FORM_LIMIT = 8192
Handler = Callable[[Request, dict[str, str]], Response]


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


def router(coffre: Coffre) -> APIRouter:
    """The sign-in pages of one installation."""
    ctx = coffre.signin()
    party = coffre.relying_party()
    routes = APIRouter()

    def page(request: Request, lang: str | None, step: str, status: int = 200, **values: Any):  # type: ignore[no-untyped-def]
        language = choose(lang, request.headers.get("accept-language"))
        _ = translator(language)
        error = values.pop("error", None)
        if isinstance(error, signin.SignInRefused) and error.minutes is not None:
            error = _("Too many attempts; try again in {minutes} minutes.").format(
                minutes=error.minutes
            )
        elif isinstance(error, CoffreError):
            error = _(error.message)
        html = _templates.get_template("signin.html").render(
            _=_, lang=language, step=step, error=error, **values
        )
        return HTMLResponse(html, status_code=status, headers={"Content-Language": language})

    def refused(request: Request, lang: str | None) -> HTMLResponse:
        return page(request, lang, "refused", 403)

    def same_origin(request: Request) -> bool:
        origin = request.headers.get("origin")
        if origin is None:
            return True  # browsers send it on cross-site POSTs; SameSite covers the rest
        here = f"{request.url.scheme}://{request.url.netloc}"
        return origin in (here, party.origin)

    def checked(request: Request, bound_to: str | None, token: str) -> bool:
        return same_origin(request) and csrf_valid(ctx, bound_to, token)

    def posted(path: str) -> Callable[[Handler], Handler]:
        """Register a form handler: the body is read here, the handler (which may hash a
        password) runs in the thread pool, never on the event loop."""

        def register(handler: Handler) -> Handler:
            async def endpoint(request: Request) -> Response:
                fields = await _form(request)
                return await run_in_threadpool(handler, request, fields)

            routes.add_api_route(path, endpoint, methods=["POST"])
            return handler

        return register

    def source(request: Request) -> str:
        return request.client.host if request.client else "unknown"

    @routes.get("/signin", response_class=HTMLResponse)
    def signin_form(request: Request, lang: str | None = None) -> HTMLResponse:
        seed = request.cookies.get(FORM_COOKIE) or secrets.token_urlsafe(32)
        response = page(request, lang, "password", csrf=csrf_token(ctx, seed))
        _cookie(response, FORM_COOKIE, seed)
        return response

    @posted("/signin")
    def signin_submit(request: Request, fields: dict[str, str]) -> Response:
        username, password = fields.get("username", ""), fields.get("password", "")
        csrf, lang = fields.get("csrf", ""), fields.get("lang")
        seed = request.cookies.get(FORM_COOKIE)
        if not checked(request, seed, csrf):
            return refused(request, lang)
        try:
            step = signin.sign_in(coffre.uow(), ctx, username, password, source(request))
        except signin.SignInRefused as exc:
            status = 429 if str(exc).startswith("Too many") else 401
            return page(request, lang, "password", status, csrf=csrf, error=exc, username=username)
        target = {
            signin.Needs.NOTHING: "/account",
            signin.Needs.SECOND_FACTOR: "/signin/second-factor",
            signin.Needs.SECOND_FACTOR_SETUP: "/signin/set-up",
        }[step.needs]
        response = RedirectResponse(f"{target}?lang={lang or ''}", status_code=303)
        _cookie(response, SESSION_COOKIE, step.token)
        response.delete_cookie(FORM_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
        return response

    def session_token(request: Request) -> str | None:
        return request.cookies.get(SESSION_COOKIE)

    @routes.get("/signin/second-factor", response_class=HTMLResponse)
    def factor_form(request: Request, lang: str | None = None) -> Response:
        token = session_token(request)
        if token is None:
            return RedirectResponse("/signin", status_code=303)
        return page(request, lang, "second-factor", csrf=csrf_token(ctx, token))

    @posted("/signin/second-factor")
    def factor_submit(request: Request, fields: dict[str, str]) -> Response:
        code, recovery_code = fields.get("code", ""), fields.get("recovery_code", "")
        csrf, lang = fields.get("csrf", ""), fields.get("lang")
        token = session_token(request)
        if token is None or not checked(request, token, csrf):
            return refused(request, lang)
        try:
            step = signin.second_factor(
                coffre.uow(),
                ctx,
                token,
                code=code or None,
                recovery_code=recovery_code or None,
            )
        except signin.SignInRefused as exc:
            return page(request, lang, "second-factor", 401, csrf=csrf, error=exc)
        except CoffreError:
            return RedirectResponse("/signin", status_code=303)
        response = RedirectResponse(f"/account?lang={lang or ''}", status_code=303)
        _cookie(response, SESSION_COOKIE, step.token)
        return response

    @routes.get("/signin/set-up", response_class=HTMLResponse)
    def setup_form(request: Request, lang: str | None = None) -> Response:
        token = session_token(request)
        if token is None:
            return RedirectResponse("/signin", status_code=303)
        key = mfa.new_totp_secret()
        sealed = seal_field(ctx, key, token)
        return page(
            request,
            lang,
            "set-up",
            csrf=csrf_token(ctx, token),
            secret=" ".join(key[i : i + 4] for i in range(0, len(key), 4)),
            sealed=sealed,
            uri=mfa.provisioning_uri(key, "Coffre"),
        )

    @posted("/signin/set-up")
    def setup_submit(request: Request, fields: dict[str, str]) -> Response:
        code, sealed = fields.get("code", ""), fields.get("sealed", "")
        csrf, lang = fields.get("csrf", ""), fields.get("lang")
        token = session_token(request)
        if token is None or not checked(request, token, csrf):
            return refused(request, lang)
        key = open_field(ctx, sealed, token)
        if key is None:
            return refused(request, lang)
        try:
            step, codes = signin.set_up_totp(coffre.uow(), ctx, token, key, code)
        except signin.SignInRefused as exc:
            return page(request, lang, "set-up-failed", 400, error=exc)
        except CoffreError:
            return RedirectResponse("/signin", status_code=303)
        response = page(request, lang, "recovery-codes", codes=codes)
        _cookie(response, SESSION_COOKIE, step.token)
        return response

    @routes.get("/account", response_class=HTMLResponse)
    def account(request: Request, lang: str | None = None) -> Response:
        token = session_token(request)
        if token is None:
            return RedirectResponse("/signin", status_code=303)
        try:
            actor = signin.session_actor(coffre.uow(), ctx, token)
            sessions = signin.my_sessions(coffre.uow(), token)
        except signin.SecondFactorRequired:
            return RedirectResponse("/signin/second-factor", status_code=303)
        except CoffreError:
            return RedirectResponse("/signin", status_code=303)
        with coffre.reader() as uow:
            name = identity.find_account(uow, actor.id).display_name
        return page(
            request,
            lang,
            "account",
            csrf=csrf_token(ctx, token),
            name=name,
            sessions=sessions,
            current=actor.session_id,
        )

    @posted("/account/end-other-sessions")
    def end_others(request: Request, fields: dict[str, str]) -> Response:
        csrf, lang = fields.get("csrf", ""), fields.get("lang")
        token = session_token(request)
        if token is None or not checked(request, token, csrf):
            return refused(request, lang)
        try:
            signin.end_other_sessions(coffre.uow(), token)
        except CoffreError:
            return RedirectResponse("/signin", status_code=303)
        return RedirectResponse(f"/account?lang={lang or ''}", status_code=303)

    @posted("/signout")
    def signout(request: Request, fields: dict[str, str]) -> Response:
        csrf, lang = fields.get("csrf", ""), fields.get("lang")
        token = session_token(request)
        if token is None or not checked(request, token, csrf):
            return refused(request, lang)
        with contextlib.suppress(CoffreError):  # already ended: the cookie goes either way
            signin.sign_out(coffre.uow(), token)
        response = RedirectResponse(f"/signin?lang={lang or ''}", status_code=303)
        response.delete_cookie(
            SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="strict"
        )
        return response

    return routes
