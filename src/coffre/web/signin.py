"""Signing in on the web: server-rendered forms that work without JavaScript.

The session id lives in a `__Host-` cookie (Secure, HttpOnly, SameSite=Strict, Path=/, no
Domain); every form carries a CSRF token and is refused (403) from another origin
(`pages.py`). The handlers are plain functions, which FastAPI runs in its thread pool:
password hashing never blocks the event loop. A passkey, the one step that needs
JavaScript, is offered beside the code, never instead of it.
"""

from __future__ import annotations

import contextlib
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from coffre import signin
from coffre.bootstrap import Coffre
from coffre.errors import CoffreError
from coffre.identity import mfa
from coffre.signin.forms import csrf_token, open_field, seal_field
from coffre.web import account, passwords, signup
from coffre.web.pages import FORM_COOKIE, SESSION_COOKIE, Pages, drop_cookie, set_cookie

PASSKEY_REFUSED = "The passkey was not accepted; try again or use a code."


def router(coffre: Coffre) -> APIRouter:
    """The sign-in and account pages of one installation."""
    pages = Pages(coffre)
    ctx, party, routes = pages.ctx, pages.party, pages.routes
    page, refused, checked, posted = pages.page, pages.refused, pages.checked, pages.posted

    @routes.get("/signin", response_class=HTMLResponse)
    def signin_form(request: Request, lang: str | None = None) -> HTMLResponse:
        return pages.bound_form(request, lang, "password")

    @posted("/signin")
    def signin_submit(request: Request, fields: dict[str, str]) -> Response:
        username, password = fields.get("username", ""), fields.get("password", "")
        csrf, lang = fields.get("csrf", ""), fields.get("lang")
        seed = request.cookies.get(FORM_COOKIE)
        if not checked(request, seed, csrf):
            return refused(request, lang)
        try:
            step = signin.sign_in(coffre.uow(), ctx, username, password, pages.source(request))
        except signin.SignInRefused as exc:
            status = 429 if str(exc).startswith("Too many") else 401
            return page(request, lang, "password", status, csrf=csrf, error=exc, username=username)
        target = {
            signin.Needs.NOTHING: "/account",
            signin.Needs.SECOND_FACTOR: "/signin/second-factor",
            signin.Needs.SECOND_FACTOR_SETUP: "/signin/set-up",
        }[step.needs]
        response = RedirectResponse(f"{target}?lang={lang or ''}", status_code=303)
        set_cookie(response, SESSION_COOKIE, step.token)
        drop_cookie(response, FORM_COOKIE)
        return response

    def factor_page(
        request: Request, lang: str | None, token: str, status: int = 200, **values: Any
    ) -> Response:
        """The second-factor form; with the options of a passkey ceremony (a new
        challenge) when the account has passkeys."""
        try:
            options: str | None = signin.passkey_options(coffre.uow(), token, party)
        except signin.SignInRefused:
            options = None  # no passkey: the codes only
        except CoffreError:
            return RedirectResponse("/signin", status_code=303)
        return page(
            request,
            lang,
            "second-factor",
            status,
            csrf=csrf_token(ctx, token),
            options=options,
            **values,
        )

    @routes.get("/signin/second-factor", response_class=HTMLResponse)
    def factor_form(request: Request, lang: str | None = None) -> Response:
        token = pages.session_token(request)
        if token is None:
            return RedirectResponse("/signin", status_code=303)
        return factor_page(request, lang, token)

    @posted("/signin/second-factor")
    def factor_submit(request: Request, fields: dict[str, str]) -> Response:
        code, recovery_code = fields.get("code", ""), fields.get("recovery_code", "")
        credential = fields.get("credential", "")
        csrf, lang = fields.get("csrf", ""), fields.get("lang")
        token = pages.session_token(request)
        if token is None or not checked(request, token, csrf):
            return refused(request, lang)
        try:
            step = signin.second_factor(
                coffre.uow(),
                ctx,
                token,
                code=code or None,
                recovery_code=recovery_code or None,
                passkey=credential or None,
                relying_party=party,
            )
        except signin.SignInRefused as exc:
            error = PASSKEY_REFUSED if credential and exc.minutes is None else exc
            return factor_page(request, lang, token, 401, error=error)
        except CoffreError:
            return RedirectResponse("/signin", status_code=303)
        response = RedirectResponse(f"/account?lang={lang or ''}", status_code=303)
        set_cookie(response, SESSION_COOKIE, step.token)
        return response

    @routes.get("/signin/set-up", response_class=HTMLResponse)
    def setup_form(request: Request, lang: str | None = None) -> Response:
        token = pages.session_token(request)
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
        token = pages.session_token(request)
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
        set_cookie(response, SESSION_COOKIE, step.token)
        return response

    @posted("/signout")
    def signout(request: Request, fields: dict[str, str]) -> Response:
        csrf, lang = fields.get("csrf", ""), fields.get("lang")
        token = pages.session_token(request)
        if token is None or not checked(request, token, csrf):
            return refused(request, lang)
        with contextlib.suppress(CoffreError):  # already ended: the cookie goes either way
            signin.sign_out(coffre.uow(), token)
        response = RedirectResponse(f"/signin?lang={lang or ''}", status_code=303)
        drop_cookie(response, SESSION_COOKIE)
        return response

    account.register(pages)
    passwords.register(pages)
    signup.register(pages)
    return routes
