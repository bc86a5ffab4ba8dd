"""A machine client's public keys (JWKS): only RSA keys of at least 2048 bits and EC keys
on P-256 or P-384, public parts only, each with the signing algorithms it may use."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from coffre.identity.errors import (
    ClientError,
)

MAX_KEYS = 10


MIN_RSA_BITS = 2048


_RSA_ALGORITHMS = ("RS384", "RS256")


_EC_ALGORITHMS = {"P-256": ("ES256",), "P-384": ("ES384",)}


ALGORITHMS = frozenset({*_RSA_ALGORITHMS, "ES256", "ES384"})


_PRIVATE = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


_PUBLIC = ("kty", "kid", "use", "alg", "n", "e", "crv", "x", "y")


def _b64_bits(value: Any) -> int:
    """The bit length of a base64url-encoded unsigned integer; 0 if it is not one."""
    if not isinstance(value, str):
        return 0
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return 0
    return int.from_bytes(raw, "big").bit_length()


def _check_key(key: Any) -> dict[str, str]:
    """The public members of one JWK, if it is a usable public signing key."""
    import jwt
    from jwt.algorithms import ECAlgorithm, RSAAlgorithm

    if not isinstance(key, dict):
        raise ClientError("Each key of the JWKS must be a JSON object.")
    kid = key.get("kid")
    if not isinstance(kid, str) or not kid.strip() or len(kid) > 200:
        raise ClientError("Each key of the JWKS needs a kid (key id) of at most 200 characters.")
    if _PRIVATE & set(key):
        raise ClientError(f"The key {kid!r} holds private key material; register public keys.")
    if key.get("use", "sig") != "sig":
        raise ClientError(f"The key {kid!r} is not a signing key (use must be sig).")
    kty = key.get("kty")
    try:
        if kty == "RSA":
            if _b64_bits(key.get("n")) < MIN_RSA_BITS:
                raise ClientError(f"The RSA key {kid!r} is shorter than {MIN_RSA_BITS} bits.")
            loaded: Any = RSAAlgorithm.from_jwk(key)
            allowed: tuple[str, ...] = _RSA_ALGORITHMS
            public = isinstance(loaded, rsa.RSAPublicKey)
        elif kty == "EC" and key.get("crv") in _EC_ALGORITHMS:
            loaded = ECAlgorithm.from_jwk(key)
            allowed = _EC_ALGORITHMS[key["crv"]]
            public = isinstance(loaded, ec.EllipticCurvePublicKey)
        else:
            raise ClientError(
                f"The key {kid!r} is neither an RSA key nor an EC key on P-256 or P-384."
            )
    except jwt.exceptions.InvalidKeyError:
        raise ClientError(f"The key {kid!r} is not a valid {kty} public key.") from None
    if not public:
        raise ClientError(f"The key {kid!r} is not a public key.")
    if "alg" in key and key["alg"] not in allowed:
        raise ClientError(f"The key {kid!r} cannot be used with {str(key['alg'])[:10]!r}.")
    return {name: key[name] for name in _PUBLIC if name in key}


def validate_jwks(text: str) -> str:
    """The client's JWKS (JSON), checked and kept to its public members; raise ClientError."""
    try:
        data = json.loads(text)
    except ValueError:
        raise ClientError("The JWKS is not valid JSON.") from None
    keys = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(keys, list) or not keys:
        raise ClientError('The JWKS must be a JSON object with a non-empty list of "keys".')
    if len(keys) > MAX_KEYS:
        raise ClientError(f"A client registers at most {MAX_KEYS} keys.")
    checked = [_check_key(key) for key in keys]
    if len({k["kid"] for k in checked}) != len(checked):
        raise ClientError("Two keys of the JWKS have the same kid.")
    return json.dumps({"keys": checked}, sort_keys=True, separators=(",", ":"))
