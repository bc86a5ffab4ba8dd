"""The OAuth 2.0 token endpoint for machine clients: `client_credentials` with a
`private_key_jwt` assertion (RFC 6749 §4.4, RFC 7523, as SMART Backend Services use it);
and `/auth/login`, where a person's tools trade their sign-in for a personal access token
(`signin.sign_in_for_token`), refused as RFC 9457 problems.

Answers are JSON as RFC 6749 §5 says: the token with `Cache-Control: no-store`, or an
`error` code (400 `invalid_request` / `unsupported_grant_type` / `invalid_scope`, 401
`invalid_client`). Refusals are journaled by the service; nothing the client sent is
echoed back.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from coffre import signin
from coffre.bootstrap import Coffre
from coffre.errors import CoffreError
from coffre.identity import ClientRefused, format_scopes

TOKEN_PATH = "/auth/token"  # noqa: S105 (a path)
LOGIN_PATH = "/auth/login"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
BODY_LIMIT = 16_384
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

# What /openapi.json says of the two endpoints: URL-encoded forms in, JSON out.
_FORM = "application/x-www-form-urlencoded"
_TOKEN_ANSWER = {
    "type": "object",
    "required": ["access_token", "token_type", "expires_in", "scope"],
    "properties": {
        "access_token": {"type": "string"},
        "token_type": {"const": "Bearer"},
        "expires_in": {"type": "integer", "minimum": 0},
        "scope": {"type": "string"},
    },
}
_OAUTH_ERROR = {
    "type": "object",
    "required": ["error", "error_description"],
    "properties": {
        "error": {
            "enum": ["invalid_request", "unsupported_grant_type", "invalid_scope", "invalid_client"]
        },
        "error_description": {"type": "string"},
    },
}
_PROBLEM = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
    },
}
_CHALLENGE = {"WWW-Authenticate": {"required": True, "schema": {"type": "string"}}}


def _answer(description: str, media: str, schema: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": schema}}, **more}


def _form_body(required: list[str], fields: dict[str, dict[str, Any]]) -> dict[str, Any]:
    schema = {"type": "object", "required": required, "properties": fields}
    return {"requestBody": {"required": True, "content": {_FORM: {"schema": schema}}}}


_TOKEN_DESCRIPTION: dict[str, Any] = {
    "openapi_extra": _form_body(
        ["grant_type", "client_assertion_type", "client_assertion"],
        {
            "grant_type": {"const": "client_credentials"},
            "client_assertion_type": {"const": ASSERTION_TYPE},
            "client_assertion": {"type": "string", "description": "A signed JWT (RFC 7523)."},
            "scope": {"type": "string"},
        },
    ),
    "responses": {
        200: _answer("A token.", "application/json", _TOKEN_ANSWER),
        400: _answer("Refused (RFC 6749 §5.2).", "application/json", _OAUTH_ERROR),
        401: _answer(
            "The client is refused.", "application/json", _OAUTH_ERROR, headers=_CHALLENGE
        ),
    },
}
_LOGIN_DESCRIPTION: dict[str, Any] = {
    "openapi_extra": _form_body(
        ["username", "password"],
        {
            "username": {"type": "string", "minLength": 1},
            "password": {"type": "string", "minLength": 1, "format": "password"},
            "code": {"type": "string", "description": "The TOTP code, when the account has one."},
            "scope": {"type": "string", "default": "user/*.cruds"},
        },
    ),
    "responses": {
        200: _answer("A personal access token.", "application/json", _TOKEN_ANSWER),
        **{
            status: _answer(why, "application/problem+json", _PROBLEM)
            for status, why in [
                (400, "A field is missing or the form cannot be read."),
                (401, "The sign-in is refused (Retry-After when it is throttled)."),
                (403, "The account needs a second factor."),
                (415, "The form is not URL-encoded."),
            ]
        },
    },
}


def _error(status: int, code: str, description: str) -> JSONResponse:
    headers = dict(_NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer error="invalid_client"'
    return JSONResponse(
        {"error": code, "error_description": description}, status_code=status, headers=headers
    )


def _form(body: bytes) -> dict[str, str] | str:
    """The fields of a URL-encoded form, or why it cannot be read."""
    if len(body) > BODY_LIMIT:
        return "The request is too large."
    fields: dict[str, str] = {}
    for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        if key in fields:
            return f"The parameter {key} is repeated."
        fields[key] = value
    return fields


def _form_encoded(request: Request) -> bool:
    media = request.headers.get("content-type", "").split(";")[0].strip()
    return media == "application/x-www-form-urlencoded"


def _problem(
    status: int, title: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """An RFC 9457 problem."""
    return JSONResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail},
        status_code=status,
        media_type="application/problem+json",
        headers={**_NO_STORE, **(headers or {})},
    )


def router(coffre: Coffre) -> APIRouter:
    """The token endpoint of one installation; its URL (the assertions' audience) is the
    public origin followed by TOKEN_PATH."""
    audience = coffre.settings.public_origin + TOKEN_PATH
    ctx = coffre.signin()
    routes = APIRouter()

    @routes.post(TOKEN_PATH, **_TOKEN_DESCRIPTION)
    async def token(request: Request) -> JSONResponse:
        if not _form_encoded(request):
            return _error(400, "invalid_request", "Send the form URL-encoded.")
        fields = _form(await request.body())
        if isinstance(fields, str):
            return _error(400, "invalid_request", fields)
        if fields.get("grant_type") != "client_credentials":
            return _error(400, "unsupported_grant_type", "Only client_credentials is offered.")
        if fields.get("client_assertion_type") != ASSERTION_TYPE or not fields.get(
            "client_assertion"
        ):
            return _error(400, "invalid_request", "A private_key_jwt client assertion is needed.")
        source = request.client.host if request.client else "unknown"
        try:
            issued = await run_in_threadpool(
                signin.client_token,
                coffre.uow(),
                fields["client_assertion"],
                audience=audience,
                scope=fields.get("scope"),
                source=source,
            )
        except ClientRefused as exc:
            status = 400 if exc.error == "invalid_scope" else 401
            return _error(status, exc.error, exc.why)
        except CoffreError as exc:
            return _error(400, "invalid_request", exc.message)
        return JSONResponse(
            {
                "access_token": issued.access_token,
                "token_type": issued.token_type,
                "expires_in": issued.expires_in,
                "scope": issued.scope,
            },
            headers=_NO_STORE,
        )

    @routes.post(LOGIN_PATH, **_LOGIN_DESCRIPTION)
    async def login(request: Request) -> JSONResponse:
        """A person's sign-in for API tools: username, password and (when the account has
        one) a TOTP `code`, URL-encoded; answers a one-hour personal access token."""
        if not _form_encoded(request):
            return _problem(415, "Unsupported media type", "Send the form URL-encoded.")
        fields = _form(await request.body())
        if isinstance(fields, str):
            return _problem(400, "Bad request", fields)
        if not fields.get("username") or not fields.get("password"):
            return _problem(400, "Bad request", "Give a username and a password.")
        source = request.client.host if request.client else "unknown"
        try:
            secret, info = await run_in_threadpool(
                lambda: signin.sign_in_for_token(
                    coffre.uow(),
                    ctx,
                    fields["username"],
                    fields["password"],
                    source,
                    code=fields.get("code"),
                    scopes=fields.get("scope") or "user/*.cruds",
                )
            )
        except signin.SignInRefused as exc:
            retry = {"Retry-After": str(exc.minutes * 60)} if exc.minutes else {}
            return _problem(401, "Sign-in refused", exc.message, retry)
        except signin.SecondFactorRequired as exc:
            return _problem(403, "Second factor needed", exc.message)
        except CoffreError as exc:
            return _problem(400, "Bad request", exc.message)
        return JSONResponse(
            {
                "access_token": secret,
                "token_type": "Bearer",
                "expires_in": int((info.expires_at - info.created_at).total_seconds()),
                "scope": format_scopes(info.scopes),
            },
            headers=_NO_STORE,
        )

    @routes.get("/.well-known/smart-configuration")
    def smart_configuration() -> JSONResponse:
        return JSONResponse(
            {
                "token_endpoint": audience,
                "grant_types_supported": ["client_credentials"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                "token_endpoint_auth_signing_alg_values_supported": [
                    "RS384",
                    "ES384",
                    "RS256",
                    "ES256",
                ],
                "scopes_supported": ["system/*.rs", "user/*.rs"],
                "capabilities": ["client-confidential-asymmetric"],
            }
        )

    return routes
