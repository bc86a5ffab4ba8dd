"""A software WebAuthn authenticator for tests: one EC P-256 credential, real attestation
objects ("none" or "packed" self-attestation) and real assertions, in the JSON form a
browser's `PublicKeyCredential.toJSON()` gives."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, AT = 0x01, 0x04, 0x40
ES256 = -7
AAGUID = bytes.fromhex("c0ffee00c0ffee00c0ffee00c0ffee00")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _options(options: str | dict[str, Any]) -> dict[str, Any]:
    return json.loads(options) if isinstance(options, str) else options


class SoftAuthenticator:
    """One credential on a platform authenticator that verifies its user."""

    def __init__(
        self,
        *,
        credential_id: bytes | None = None,
        user_verified: bool = True,
        transports: tuple[str, ...] = ("hybrid", "internal"),
    ) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = credential_id or os.urandom(32)
        self.user_verified = user_verified
        self.transports = transports
        self.sign_count = 0
        self.user_handle: bytes | None = None

    @property
    def id(self) -> str:
        return b64url(self.credential_id)

    def cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,  # kty: EC2
                3: ES256,
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            },
            canonical=True,
        )

    def authenticator_data(self, rp_id: str, *, attested: bool) -> bytes:
        flags = UP | (UV if self.user_verified else 0) | (AT if attested else 0)
        data = hashlib.sha256(rp_id.encode()).digest() + bytes([flags])
        data += struct.pack(">I", self.sign_count)
        if attested:
            data += AAGUID + struct.pack(">H", len(self.credential_id)) + self.credential_id
            data += self.cose_key()
        return data

    def sign(self, data: bytes) -> bytes:
        return self.key.sign(data, ec.ECDSA(hashes.SHA256()))

    @staticmethod
    def client_data(kind: str, challenge: bytes, origin: str) -> bytes:
        return json.dumps(
            {
                "type": kind,
                "challenge": b64url(challenge),
                "origin": origin,
                "crossOrigin": False,
            },
            separators=(",", ":"),
        ).encode()

    def create(
        self,
        options: str | dict[str, Any],
        *,
        origin: str,
        fmt: str = "none",
        rp_id: str | None = None,
    ) -> dict[str, Any]:
        """Answer `navigator.credentials.create()` options; `rp_id` overrides theirs."""
        opts = _options(options)
        rp_id = rp_id or opts["rp"]["id"]
        excluded = {c["id"] for c in opts.get("excludeCredentials", [])}
        if self.id in excluded:
            raise ValueError("InvalidStateError: the credential is excluded")
        self.user_handle = unb64url(opts["user"]["id"])
        client_data = self.client_data("webauthn.create", unb64url(opts["challenge"]), origin)
        auth_data = self.authenticator_data(rp_id, attested=True)
        if fmt == "none":
            statement: dict[str, Any] = {}
        elif fmt == "packed":
            signed = auth_data + hashlib.sha256(client_data).digest()
            statement = {"alg": ES256, "sig": self.sign(signed)}
        else:
            raise ValueError(f"unknown attestation format {fmt!r}")
        attestation = cbor2.dumps(
            {"fmt": fmt, "attStmt": statement, "authData": auth_data}, canonical=True
        )
        public_key = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return {
            "id": self.id,
            "rawId": self.id,
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "authenticatorData": b64url(auth_data),
                "transports": list(self.transports),
                "publicKey": b64url(public_key),
                "publicKeyAlgorithm": ES256,
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        }

    def get(
        self,
        options: str | dict[str, Any],
        *,
        origin: str,
        rp_id: str | None = None,
        counter: int | None = None,
    ) -> dict[str, Any]:
        """Answer `navigator.credentials.get()` options, counting one more use unless
        `counter` sets the counter."""
        opts = _options(options)
        rp_id = rp_id or opts["rpId"]
        self.sign_count = self.sign_count + 1 if counter is None else counter
        client_data = self.client_data("webauthn.get", unb64url(opts["challenge"]), origin)
        auth_data = self.authenticator_data(rp_id, attested=False)
        signature = self.sign(auth_data + hashlib.sha256(client_data).digest())
        response = {
            "clientDataJSON": b64url(client_data),
            "authenticatorData": b64url(auth_data),
            "signature": b64url(signature),
        }
        if self.user_handle is not None:
            response["userHandle"] = b64url(self.user_handle)
        return {
            "id": self.id,
            "rawId": self.id,
            "type": "public-key",
            "response": response,
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        }
