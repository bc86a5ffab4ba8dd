"""Machine clients for tests: a key pair, its JWKS, and signed client assertions as a
SMART Backend Services client makes them."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from coffre import signin
from coffre.identity import Actor, local_operator

AUDIENCE = "https://coffre.example.org/oauth/token"
KEY = ec.generate_private_key(ec.SECP256R1())


def jwks(*keys: tuple[str, object]) -> str:
    """A JWK Set of these (key id, public key) pairs."""
    found = []
    for kid, key in keys:
        algorithm = RSAAlgorithm if isinstance(key, rsa.RSAPublicKey) else ECAlgorithm
        found.append({**algorithm.to_jwk(key, as_dict=True), "kid": kid})
    return json.dumps({"keys": found})


def assertion(
    client_id: str,
    now: datetime | None = None,
    *,
    key: object = KEY,
    kid: str = "k1",
    alg: str = "ES256",
    **claims: object,
) -> str:
    """A client assertion (RFC 7523) for the token endpoint, signed with `key`."""
    now = now or datetime.now(UTC)
    body = {
        "iss": client_id,
        "sub": client_id,
        "aud": AUDIENCE,
        "exp": int((now + timedelta(minutes=4)).timestamp()),
        "jti": uuid.uuid4().hex,
        **claims,
    }
    return jwt.encode(body, key, algorithm=alg, headers={"kid": kid})  # type: ignore[arg-type]


def client_actor(
    coffre,  # type: ignore[no-untyped-def]
    organisation_id: str,
    scopes: str,
    *,
    per_hour: int = 1000,
    per_day: int = 10_000,
) -> Actor:
    """A machine client of the organisation, signed in with a token of these scopes."""
    now = datetime.now(UTC)
    client = signin.add_client(
        coffre.uow(),
        local_operator(organisation_id),
        organisation_id,
        "Results feed",
        jwks(("k1", KEY.public_key())),
        scopes,
        expires_at=now + timedelta(days=365),
        per_hour=per_hour,
        per_day=per_day,
    )
    issued = signin.client_token(
        coffre.uow(), assertion(client.id), audience=AUDIENCE, source="203.0.113.9"
    )
    return signin.token_actor(coffre.uow(), issued.access_token, source="203.0.113.9")
