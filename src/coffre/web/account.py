"""The signed-in account's page: its sessions, its passkeys, and adding one.

Adding a passkey is the WebAuthn registration ceremony: the server renders the options of
`signin.passkey_registration_options` into the form, `static/passkeys.js` asks the browser
for a credential and posts it with the form, `signin.add_passkey` verifies and stores it.
Without JavaScript the form stays hidden and the page says why.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from coffre import signin
from coffre.errors import CoffreError
from coffre.signin.forms import csrf_token
from coffre.web.pages import SESSION_COOKIE, Pages, set_cookie

NOTICES = {
    "password": "Your password was changed; your other sessions were ended.",
    "passkey": "Your passkey was added.",
}
NO_CREDENTIAL = "Adding a passkey needs JavaScript in your browser."


def register(pages: Pages) -> None:
    """Add the account routes to the pages."""
    coffre, ctx, party, routes = pages.coffre, pages.ctx, pages.party, pages.routes
    page, refused, checked, posted = pages.page, pages.refused, pages.checked, pages.posted

    @routes.get("/account", response_class=HTMLResponse)
    def account(request: Request, lang: str | None = None, done: str | None = None) -> Response:
        token = pages.session_token(request)
        if token is None:
            return RedirectResponse("/signin", status_code=303)
        try:
            actor = signin.session_actor(coffre.uow(), ctx, token)
            sessions = signin.my_sessions(coffre.uow(), token)
            passkeys = signin.my_passkeys(coffre.uow(), token)
        except CoffreError as exc:
            return pages.gone(exc)
        return page(
            request,
            lang,
            "account",
            template="account.html",
            csrf=csrf_token(ctx, token),
            name=pages.display_name(actor.id),
            sessions=sessions,
            current=actor.session_id,
            passkeys=passkeys,
            notice=NOTICES.get(done or ""),
        )

    @posted("/account/end-other-sessions")
    def end_others(request: Request, fields: dict[str, str]) -> Response:
        csrf, lang = fields.get("csrf", ""), fields.get("lang")
        token = pages.session_token(request)
        if token is None or not checked(request, token, csrf):
            return refused(request, lang)
        try:
            signin.end_other_sessions(coffre.uow(), token)
        except CoffreError as exc:
            return pages.gone(exc)
        return RedirectResponse(f"/account?lang={lang or ''}", status_code=303)

    def ceremony(
        request: Request, lang: str | None, token: str, status: int = 200, **values: Any
    ) -> Response:
        """The page that creates a passkey, with new options (and a new challenge); if
        the session may not add one now, the page says so."""
        try:
            options = signin.passkey_registration_options(coffre.uow(), ctx, token, party)
        except signin.SignInRefused as exc:
            return page(request, lang, "passkey-new", 403, template="account.html", error=exc)
        except CoffreError as exc:
            return pages.gone(exc)
        return page(
            request,
            lang,
            "passkey-new",
            status,
            template="account.html",
            csrf=csrf_token(ctx, token),
            options=options,
            **values,
        )

    @posted("/account/passkeys/new")
    def new_passkey(request: Request, fields: dict[str, str]) -> Response:
        csrf, lang = fields.get("csrf", ""), fields.get("lang")
        token = pages.session_token(request)
        if token is None or not checked(request, token, csrf):
            return refused(request, lang)
        return ceremony(request, lang, token)

    @posted("/account/passkeys")
    def add_passkey(request: Request, fields: dict[str, str]) -> Response:
        csrf, lang = fields.get("csrf", ""), fields.get("lang")
        name, credential = fields.get("name", ""), fields.get("credential", "")
        token = pages.session_token(request)
        if token is None or not checked(request, token, csrf):
            return refused(request, lang)
        if not credential:
            return ceremony(request, lang, token, 400, error=NO_CREDENTIAL, passkey_name=name)
        try:
            step, codes = signin.add_passkey(coffre.uow(), ctx, token, credential, name, party)
        except signin.SignInRefused as exc:
            return ceremony(request, lang, token, 400, error=exc, passkey_name=name)
        except CoffreError as exc:
            return pages.gone(exc)
        if codes:  # the account's first second factor: its recovery codes, shown once
            response: Response = page(request, lang, "recovery-codes", codes=codes)
        else:
            response = RedirectResponse(f"/account?lang={lang or ''}&done=passkey", 303)
        set_cookie(response, SESSION_COOKIE, step.token)
        return response
