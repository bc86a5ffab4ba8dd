"""The OAuth 2.0 token endpoint over HTTP: client_credentials with a private_key_jwt
assertion; RFC 6749 answers, nothing echoed back."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from coffre import identity, signin
from coffre.identity import OrganisationKind, local_operator
from coffre.web import create_app
from coffre.web.token import ASSERTION_TYPE, TOKEN_PATH

pytestmark = pytest.mark.anyio
KEY = ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
async def setup(sqlite_coffre):  # type: ignore[no-untyped-def]
    with sqlite_coffre.uow() as uow:
        org = identity.create_organisation(
            uow, "Laboratoire Sud", OrganisationKind.CARE_PROVIDER, "FR"
        ).id
        uow.commit()
    keys = json.dumps(
        {"keys": [{**ECAlgorithm.to_jwk(KEY.public_key(), as_dict=True), "kid": "k1"}]}
    )
    client = signin.add_client(
        sqlite_coffre.uow(),
        local_operator(org),
        org,
        "Lab results feed",
        keys,
        "system/Observation.rs",
        expires_at=datetime.now(UTC) + timedelta(days=30),
        per_hour=100,
        per_day=1000,
    )
    transport = httpx.ASGITransport(app=create_app(sqlite_coffre), client=("203.0.113.9", 1))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
        yield http, client.id, sqlite_coffre.settings.public_origin + TOKEN_PATH


def assertion(client_id: str, audience: str, **claims: object) -> str:
    body = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "exp": int((datetime.now(UTC) + timedelta(minutes=4)).timestamp()),
        "jti": uuid.uuid4().hex,
        **claims,
    }
    return jwt.encode(body, KEY, algorithm="ES256", headers={"kid": "k1"})


def form(signed: str, **extra: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": signed,
        **extra,
    }


async def test_a_client_gets_a_bearer_token_once_per_assertion(setup):
    http, client_id, audience = setup
    signed = assertion(client_id, audience)
    answer = await http.post(TOKEN_PATH, data=form(signed, scope="system/Observation.r"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "system/Observation.r"
    assert 0 < body["expires_in"] <= 300
    assert answer.headers["cache-control"] == "no-store"
    replay = await http.post(TOKEN_PATH, data=form(signed))
    assert replay.status_code == 401 and replay.json()["error"] == "invalid_client"
    assert signed not in replay.text


@pytest.mark.parametrize(
    ("data", "status", "error"),
    [
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"grant_type": "client_credentials"}, 400, "invalid_request"),
    ],
)
async def test_malformed_requests_get_rfc_6749_errors(setup, data, status, error):
    http, _, _ = setup
    answer = await http.post(TOKEN_PATH, data=data)
    assert (answer.status_code, answer.json()["error"]) == (status, error)


async def test_wrong_audience_and_wider_scopes_are_refused(setup):
    http, client_id, audience = setup
    elsewhere = await http.post(
        TOKEN_PATH, data=form(assertion(client_id, "https://evil.example/token"))
    )
    assert elsewhere.status_code == 401
    wider = await http.post(
        TOKEN_PATH, data=form(assertion(client_id, audience), scope="system/Patient.rs")
    )
    assert (wider.status_code, wider.json()["error"]) == (400, "invalid_scope")
    json_body = await http.post(TOKEN_PATH, json={"grant_type": "client_credentials"})
    assert json_body.status_code == 400


async def test_the_smart_configuration_names_the_endpoint(setup):
    http, _, audience = setup
    config = (await http.get("/.well-known/smart-configuration")).json()
    assert config["token_endpoint"] == audience
    assert config["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
