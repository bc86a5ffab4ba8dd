"""Who calls: a bearer token (a machine client's, or a person's personal access token) or a
browser session, checked on every request; nothing else opens the API."""

from __future__ import annotations

from fastapi import Request

from coffre import signin
from coffre.bootstrap import Coffre
from coffre.identity import Actor

SESSION_COOKIE = "__Host-coffre-session"


class NoCredential(Exception):
    """The request carries no token and no session."""


def caller(coffre: Coffre, ctx: signin.Context, request: Request) -> Actor:
    """The actor of this request. Raises NoCredential, TokenRefused, SessionEnded or
    SecondFactorRequired."""
    source = request.client.host if request.client else "unknown"
    header = request.headers.get("authorization", "")
    scheme, _, credential = header.partition(" ")
    if scheme.lower() == "bearer" and credential.strip():
        return signin.token_actor(coffre.uow(), credential.strip(), source=source)
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        return signin.session_actor(coffre.uow(), ctx, session)
    raise NoCredential


def has_credential(request: Request) -> bool:
    """Whether the request carries a token or a session at all (checked or not)."""
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    bearer = scheme.lower() == "bearer" and bool(credential.strip())
    return bearer or bool(request.cookies.get(SESSION_COOKIE))
