"""Sign-up on the web, for patients: give the address the practice has on file, then
choose a password with the single-use link sent to it (`/signup/complete?token=…`).

Asking always answers the same page, whatever the address (the service takes the same time
either way). A refused password keeps the link usable; the page that opens the account
shows the username Coffre chose.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from coffre import records
from coffre.errors import CoffreError
from coffre.web.pages import FORM_COOKIE, Pages

COMPLETE_PATH = "/signup/complete"
DIFFERENT = "The two passwords are not the same."
TEMPLATE = "signup.html"


def register(pages: Pages) -> None:
    """Add the sign-up routes to the pages."""
    coffre, routes = pages.coffre, pages.routes
    page, refused, checked, posted = pages.page, pages.refused, pages.checked, pages.posted
    keys = coffre.sign_up_keys()

    @routes.get("/signup", response_class=HTMLResponse)
    def ask_form(request: Request, lang: str | None = None) -> HTMLResponse:
        return pages.bound_form(request, lang, "ask", template=TEMPLATE)

    @posted("/signup")
    def ask_submit(request: Request, fields: dict[str, str]) -> Response:
        csrf, lang = fields.get("csrf", ""), fields.get("lang")
        if not checked(request, request.cookies.get(FORM_COOKIE), csrf):
            return refused(request, lang)
        email = fields.get("email", "")
        try:
            records.request_sign_up(coffre.uow(), coffre.vault, keys, email, pages.source(request))
        except records.SignUpRefused as exc:  # not an address at all
            return page(request, lang, "ask", 400, template=TEMPLATE, csrf=csrf, error=exc)
        return page(request, lang, "sent", template=TEMPLATE)

    @routes.get(COMPLETE_PATH, response_class=HTMLResponse)
    def complete_form(request: Request, lang: str | None = None, token: str = "") -> Response:
        if not token:
            return RedirectResponse(f"/signup?lang={lang or ''}", status_code=303)
        return pages.bound_form(request, lang, "complete", template=TEMPLATE, token=token)

    @posted(COMPLETE_PATH)
    def complete_submit(request: Request, fields: dict[str, str]) -> Response:
        token, password = fields.get("token", ""), fields.get("new", "")
        csrf, lang = fields.get("csrf", ""), fields.get("lang")
        if not checked(request, request.cookies.get(FORM_COOKIE), csrf):
            return refused(request, lang)

        def again(error: object) -> HTMLResponse:
            return page(
                request,
                lang,
                "complete",
                400,
                template=TEMPLATE,
                csrf=csrf,
                token=token,
                error=error,
            )

        if password != fields.get("again", ""):
            return again(DIFFERENT)
        try:
            username = records.complete_sign_up(
                coffre.uow(), keys, token, password, pages.source(request)
            )
        except records.SignUpRefused as exc:  # used, expired, never sent, or no record
            return page(request, lang, "invalid", 400, template=TEMPLATE, error=exc)
        except CoffreError as exc:  # the password breaks a rule; the sentence says which
            return again(exc)
        return page(request, lang, "done", template=TEMPLATE, username=username)
