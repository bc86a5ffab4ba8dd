"""A client's JWKS: only public RSA (2048 bits or more) and EC P-256/P-384 signing keys."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from coffre.identity import ClientError
from coffre.identity.jwks import MAX_KEYS, validate_jwks

EC_KEY = {**ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP384R1()).public_key(), as_dict=True)}
RSA_KEY = {**RSAAlgorithm.to_jwk(rsa.generate_private_key(65537, 2048).public_key(), as_dict=True)}


def keys(*found: object) -> str:
    return json.dumps({"keys": list(found)})


def test_public_keys_are_kept_with_their_public_members_only():
    text = keys(
        {**EC_KEY, "kid": "e", "alg": "ES384", "use": "sig", "x5c": ["..."]},
        {**RSA_KEY, "kid": "r", "alg": "RS384"},
    )
    kept = json.loads(validate_jwks(text))["keys"]
    assert [k["kid"] for k in kept] == ["e", "r"]
    assert "x5c" not in kept[0] and kept[0]["crv"] == "P-384"
    assert validate_jwks(validate_jwks(text)) == validate_jwks(text)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("[1]", "non-empty list"),
        (keys("a string"), "JSON object"),
        (keys({**EC_KEY}), "kid"),
        (keys({**EC_KEY, "kid": " "}), "kid"),
        (keys({**EC_KEY, "kid": "e", "use": "enc"}), "signing key"),
        (keys({**EC_KEY, "kid": "e", "alg": "ES256"}), "cannot be used"),
        (keys({**RSA_KEY, "kid": "r", "alg": "PS256"}), "cannot be used"),
        (keys({**RSA_KEY, "kid": "r", "n": "%%%"}), "shorter than 2048"),
        (keys({**RSA_KEY, "kid": "r", "n": 12}), "shorter than 2048"),
        (keys({**EC_KEY, "kid": "e", "x": "AAAA"}), "not a valid EC"),
        (keys({"kty": "oct", "kid": "s", "k": "c2VjcmV0"}), "private key material"),
        (keys({"kty": "OKP", "kid": "o", "crv": "Ed25519", "x": "AAAA"}), "neither"),
        (keys(*({**EC_KEY, "kid": str(i)} for i in range(MAX_KEYS + 1))), "at most"),
    ],
)
def test_other_keys_are_refused_in_one_sentence(text, why):
    with pytest.raises(ClientError, match=why) as raised:
        validate_jwks(text)
    assert raised.value.message.endswith(".")
