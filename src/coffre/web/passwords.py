"""Passwords on the web: changing one's own, and choosing a new one with the single-use
link a reset request puts in the outbox (`/signin/reset?token=…`).

Asking for a reset always answers the same page, whether the account exists or not (the
service takes the same time either way). A refused new password keeps the reset link
usable: the service spends the token only with the change.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from coffre import signin
from coffre.errors import CoffreError
from coffre.signin.forms import csrf_token
from coffre.web.pages import FORM_COOKIE, SESSION_COOKIE, Pages, set_cookie

RESET_PATH = "/signin/reset"
DIFFERENT = "The two new passwords are not the same."
WRONG_CURRENT = "Your current password is not right."
TEMPLATE = "password.html"


def register(pages: Pages) -> None:
    """Add the password routes to the pages."""
    coffre, ctx, routes = pages.coffre, pages.ctx, pages.routes
    page, refused, checked, posted = pages.page, pages.refused, pages.checked, pages.posted

    @routes.get("/account/password", response_class=HTMLResponse)
    def change_form(request: Request, lang: str | None = None) -> Response:
        token = pages.session_token(request)
        if token is None:
            return RedirectResponse("/signin", status_code=303)
        try:
            signin.session_actor(coffre.uow(), ctx, token)
        except CoffreError as exc:
            return pages.gone(exc)
        return page(request, lang, "change", template=TEMPLATE, csrf=csrf_token(ctx, token))

    @posted("/account/password")
    def change_submit(request: Request, fields: dict[str, str]) -> Response:
        current, new = fields.get("current", ""), fields.get("new", "")
        csrf, lang = fields.get("csrf", ""), fields.get("lang")
        token = pages.session_token(request)
        if token is None or not checked(request, token, csrf):
            return refused(request, lang)
        if new != fields.get("again", ""):
            return page(request, lang, "change", 400, template=TEMPLATE, csrf=csrf, error=DIFFERENT)
        try:
            step = signin.change_password(coffre.uow(), ctx, token, current, new)
        except signin.SignInRefused as exc:
            # The service answers a wrong current password as it answers a wrong sign-in.
            error = exc if exc.minutes is not None else WRONG_CURRENT
            return page(request, lang, "change", 401, template=TEMPLATE, csrf=csrf, error=error)
        except (signin.SessionEnded, signin.SecondFactorRequired) as exc:
            return pages.gone(exc)
        except CoffreError as exc:  # the new password breaks a rule; the sentence says which
            return page(request, lang, "change", 400, template=TEMPLATE, csrf=csrf, error=exc)
        response = RedirectResponse(f"/account?lang={lang or ''}&done=password", 303)
        set_cookie(response, SESSION_COOKIE, step.token)
        return response

    @routes.get("/signin/forgot", response_class=HTMLResponse)
    def forgot_form(request: Request, lang: str | None = None) -> HTMLResponse:
        return pages.bound_form(request, lang, "forgot", template=TEMPLATE)

    @posted("/signin/forgot")
    def forgot_submit(request: Request, fields: dict[str, str]) -> Response:
        csrf, lang = fields.get("csrf", ""), fields.get("lang")
        if not checked(request, request.cookies.get(FORM_COOKIE), csrf):
            return refused(request, lang)
        signin.request_password_reset(
            coffre.uow(), ctx, fields.get("username", ""), pages.source(request)
        )
        return page(request, lang, "forgot-sent", template=TEMPLATE)

    @routes.get(RESET_PATH, response_class=HTMLResponse)
    def reset_form(request: Request, lang: str | None = None, token: str = "") -> Response:
        if not token:
            return RedirectResponse(f"/signin/forgot?lang={lang or ''}", status_code=303)
        return pages.bound_form(request, lang, "reset", template=TEMPLATE, token=token)

    @posted(RESET_PATH)
    def reset_submit(request: Request, fields: dict[str, str]) -> Response:
        token, new = fields.get("token", ""), fields.get("new", "")
        csrf, lang = fields.get("csrf", ""), fields.get("lang")
        if not checked(request, request.cookies.get(FORM_COOKIE), csrf):
            return refused(request, lang)

        def again(error: object) -> HTMLResponse:
            return page(
                request, lang, "reset", 400, template=TEMPLATE, csrf=csrf, token=token, error=error
            )

        if new != fields.get("again", ""):
            return again(DIFFERENT)
        try:
            signin.reset_password(coffre.uow(), ctx, token, new)
        except signin.SignInRefused as exc:  # used, expired, or never issued
            return page(request, lang, "reset-invalid", 400, template=TEMPLATE, error=exc)
        except CoffreError as exc:  # the new password breaks a rule
            return again(exc)
        return page(request, lang, "reset-done", template=TEMPLATE)
