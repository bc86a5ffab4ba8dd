"""Machine clients (SMART Backend Services): registration and client assertions.

A client authenticates with `private_key_jwt` (RFC 7523): a JWT it signs with a private key
whose public half it registered (a JWKS), naming itself as issuer and subject and the token
endpoint as audience, valid for at most five minutes, with an id (jti) never used before.
Only public RSA (2048 bits or more) and EC P-256/P-384 keys are registered; assertions are
signed RS384 or ES384 (RS256 and ES256 are accepted too), by the key their `kid` names.

Each client has ceilings: records served per hour and per 24 hours, registered here and
counted in `usage`. PyJWT is imported where an assertion or a key is read, not by every
command.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from coffre.identity.errors import (
    ClientError,
    ClientNotFound,
    ClientRefused,
    InvalidScope,
    OrganisationNotFound,
)
from coffre.identity.jwks import (
    _EC_ALGORITHMS,
    _RSA_ALGORITHMS,
    ALGORITHMS,
    validate_jwks,
)
from coffre.identity.scopes import Scope, format_scopes, parse_scopes, within
from coffre.identity.tables import client_assertions, clients, organisations
from coffre.store import UnitOfWork

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


ASSERTION_LIFETIME = timedelta(minutes=5)  # the latest `exp` accepted, from now


CLOCK_SKEW = timedelta(seconds=30)  # tolerated between the client's clock and ours


SHORTEST_TOKEN = timedelta(minutes=1)


LONGEST_TOKEN = timedelta(hours=1)


@dataclass(frozen=True)
class Client:
    id: str
    organisation_id: str
    name: str
    scopes: tuple[Scope, ...]
    token_lifetime: timedelta  # the longest its tokens live
    expires_at: datetime  # the client's own expiry
    per_hour: int
    per_day: int
    created_at: datetime
    key_ids: tuple[str, ...]
    revoked_at: datetime | None = None
    suspended_at: datetime | None = None
    suspended_by: str | None = None
    suspended_reason: str | None = None

    def state(self, now: datetime) -> str:
        """active, revoked, suspended or expired."""
        if self.revoked_at is not None:
            return "revoked"
        if self.suspended_at is not None:
            return "suspended"
        if now >= self.expires_at:
            return "expired"
        return "active"


def _client(row: sa.Row) -> Client:  # type: ignore[type-arg]
    keys = json.loads(row.jwks)["keys"]
    return Client(
        row.id,
        row.organisation_id,
        row.name,
        parse_scopes(row.scopes),
        timedelta(seconds=row.token_seconds),
        row.expires_at,
        row.per_hour,
        row.per_day,
        row.created_at,
        tuple(k["kid"] for k in keys),
        row.revoked_at,
        row.suspended_at,
        row.suspended_by,
        row.suspended_reason,
    )


def register_client(
    uow: UnitOfWork,
    organisation_id: str,
    name: str,
    jwks: str,
    scopes: str,
    *,
    expires_at: datetime,
    per_hour: int,
    per_day: int,
    token_lifetime: timedelta = timedelta(minutes=5),
    now: datetime,
) -> Client:
    """Register a machine client of the organisation; the caller commits."""
    name = name.strip()
    if not name or len(name) > 200:
        raise ClientError("A client needs a name of at most 200 characters.")
    keys = validate_jwks(jwks)
    granted = parse_scopes(scopes, context="system")
    if not SHORTEST_TOKEN <= token_lifetime <= LONGEST_TOKEN:
        raise ClientError("A client's tokens must live between 1 and 60 minutes.")
    if expires_at <= now:
        raise ClientError("A client's expiry date must be in the future.")
    if per_hour < 1 or per_day < 1:
        raise ClientError("A client's ceilings must be at least one record.")
    if per_day < per_hour:
        raise ClientError("A client's daily ceiling cannot be below its hourly one.")
    known = uow.connection.execute(
        sa.select(organisations.c.id).where(organisations.c.id == organisation_id)
    ).scalar()
    if known is None:
        raise OrganisationNotFound(f"There is no organisation with id {organisation_id}.")
    values = {
        "id": str(uuid.uuid4()),
        "organisation_id": organisation_id,
        "name": name,
        "jwks": keys,
        "scopes": format_scopes(granted),
        "token_seconds": int(token_lifetime.total_seconds()),
        "expires_at": expires_at,
        "per_hour": per_hour,
        "per_day": per_day,
        "created_at": now,
    }
    uow.connection.execute(clients.insert().values(**values))
    return get_client(uow, str(values["id"]))


def get_client(uow: UnitOfWork, client_id: str) -> Client:
    """The client; raise ClientNotFound."""
    row = uow.connection.execute(sa.select(clients).where(clients.c.id == client_id)).first()
    if row is None:
        raise ClientNotFound(f"There is no client {client_id[:64]!r}.")
    return _client(row)


def list_clients(uow: UnitOfWork, organisation_id: str | None = None) -> list[Client]:
    """The clients (of one organisation), oldest first."""
    query = sa.select(clients).order_by(clients.c.created_at, clients.c.id)
    if organisation_id is not None:
        query = query.where(clients.c.organisation_id == organisation_id)
    return [_client(row) for row in uow.connection.execute(query)]


def revoke_client(uow: UnitOfWork, client_id: str, now: datetime) -> bool:
    """Revoke the client for good (its tokens stop at the next request); return whether it
    was not revoked already."""
    return bool(
        uow.connection.execute(
            clients.update()
            .where(clients.c.id == client_id, clients.c.revoked_at.is_(None))
            .values(revoked_at=now)
        ).rowcount
    )


def set_client_suspended(
    uow: UnitOfWork, client_id: str, at: datetime | None, by: str | None, reason: str | None
) -> None:
    """Suspend the client from `at` (by whom, why), or lift it with None."""
    done = uow.connection.execute(
        clients.update()
        .where(clients.c.id == client_id)
        .values(
            suspended_at=at,
            suspended_by=by[:120] if by else None,
            suspended_reason=reason[:200] if reason else None,
        )
    ).rowcount
    if not done:
        raise ClientNotFound(f"There is no client {client_id[:64]!r}.")


def client_refusal(client: Client, now: datetime) -> ClientRefused | None:
    """Why the client may not be given a token (revoked, suspended, expired), or None."""
    state = client.state(now)
    if state == "active":
        return None
    return ClientRefused(f"The client is {state}.", f"client-{state}", client.id)


def _refuse(message: str, rule: str, client_id: str | None = None) -> ClientRefused:
    return ClientRefused(message, rule, client_id)


def _key(jwks: str, kid: Any) -> tuple[Any, tuple[str, ...]] | None:
    """The public key the kid names and the algorithms it signs with, or None."""
    from jwt.algorithms import ECAlgorithm, RSAAlgorithm

    for key in json.loads(jwks)["keys"]:
        if key["kid"] == kid:
            if key["kty"] == "RSA":
                return RSAAlgorithm.from_jwk(key), _RSA_ALGORITHMS
            return ECAlgorithm.from_jwk(key), _EC_ALGORITHMS[key["crv"]]
    return None


def _moment(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _claims(assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of an assertion, before any check of its signature."""
    import jwt

    try:
        header = jwt.get_unverified_header(assertion)
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.exceptions.PyJWTError:
        raise _refuse("The client assertion is not a JWT.", "client-assertion-malformed") from None
    algorithm = header.get("alg")
    if algorithm not in ALGORITHMS:
        raise _refuse(
            "The client assertion must be signed with RS384 or ES384.",
            "client-assertion-algorithm",
        )
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or not issuer or claims.get("sub") != issuer:
        raise _refuse(
            "The client assertion must name the client as both iss and sub.",
            "client-assertion-malformed",
        )
    return header, claims


def claimed_client(assertion: str) -> str | None:
    """The client id an assertion claims (iss), unchecked; None if it cannot be read."""
    import jwt

    try:
        issuer = jwt.decode(assertion, options={"verify_signature": False}).get("iss")
    except jwt.exceptions.PyJWTError:
        return None
    return issuer if isinstance(issuer, str) else None


def verify_assertion(uow: UnitOfWork, assertion: str, *, audience: str, now: datetime) -> Client:
    """The client a `private_key_jwt` assertion authenticates, its jti now used; raise
    ClientRefused (with the rule that refused it)."""
    import jwt

    header, claims = _claims(assertion)
    row = uow.connection.execute(
        sa.select(clients).where(clients.c.id == claims["iss"][:64]).with_for_update()
    ).first()
    if row is None or row.id != claims["iss"]:
        raise _refuse("The client is not known.", "client-unknown")
    client = _client(row)
    found = _key(row.jwks, header.get("kid"))
    if found is None:
        raise _refuse(
            "No registered key of the client has the assertion's kid.",
            "client-assertion-key",
            client.id,
        )
    key, algorithms = found
    if header["alg"] not in algorithms:
        raise _refuse(
            f"The client's key {header['kid']!r} signs with {', '.join(algorithms)}.",
            "client-assertion-algorithm",
            client.id,
        )
    try:
        jwt.decode(
            assertion,
            key,
            algorithms=list(algorithms),
            audience=audience,
            issuer=client.id,
            options={
                "require": ["iss", "sub", "aud", "exp", "jti"],
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.exceptions.InvalidSignatureError:
        raise _refuse(
            "The client assertion's signature is not valid.",
            "client-assertion-signature",
            client.id,
        ) from None
    except jwt.exceptions.InvalidAudienceError:
        raise _refuse(
            "The client assertion's audience (aud) is not this token endpoint.",
            "client-assertion-audience",
            client.id,
        ) from None
    except jwt.exceptions.PyJWTError:
        raise _refuse(
            "The client assertion lacks iss, sub, aud, exp or jti, or one is malformed.",
            "client-assertion-malformed",
            client.id,
        ) from None
    expires = _moment(claims["exp"])
    if expires is None or expires <= now - CLOCK_SKEW:
        raise _refuse("The client assertion has expired.", "client-assertion-expired", client.id)
    if expires > now + ASSERTION_LIFETIME + CLOCK_SKEW:
        raise _refuse(
            "The client assertion must expire within five minutes.",
            "client-assertion-lifetime",
            client.id,
        )
    for name in ("iat", "nbf"):
        if name in claims:
            moment = _moment(claims[name])
            if moment is None or moment > now + CLOCK_SKEW:
                raise _refuse(
                    f"The client assertion's {name} is not a time in the past.",
                    "client-assertion-malformed",
                    client.id,
                )
    refusal = client_refusal(client, now)
    if refusal is not None:
        raise refusal
    _use_jti(uow, client.id, claims["jti"], expires + CLOCK_SKEW, now)
    return client


def _use_jti(uow: UnitOfWork, client_id: str, jti: Any, expires: datetime, now: datetime) -> None:
    """Record the assertion's id until it expires; refuse one already used."""
    if not isinstance(jti, str) or not jti or len(jti) > 200:
        raise _refuse(
            "The client assertion's jti must be a string of 1 to 200 characters.",
            "client-assertion-malformed",
            client_id,
        )
    uow.connection.execute(
        client_assertions.delete().where(
            client_assertions.c.client_id == client_id, client_assertions.c.expires_at < now
        )
    )
    used = uow.connection.execute(
        sa.select(client_assertions.c.jti).where(
            client_assertions.c.client_id == client_id, client_assertions.c.jti == jti
        )
    ).first()
    if used is not None:
        raise _refuse(
            "The client assertion was already used; sign a new one with a new jti.",
            "client-assertion-replayed",
            client_id,
        )
    uow.connection.execute(
        client_assertions.insert().values(client_id=client_id, jti=jti, expires_at=expires)
    )


def token_scopes(client: Client, requested: str | None) -> tuple[Scope, ...]:
    """The scopes a token of the client gets: those requested (all the client's if none),
    which may only narrow the client's; raise ClientRefused (invalid_scope)."""
    if requested is None or not requested.strip():
        return client.scopes
    try:
        wanted = parse_scopes(requested, context="system")
    except InvalidScope as exc:
        raise ClientRefused(
            exc.message, "scope-invalid", client.id, "invalid_scope", "the scope is malformed"
        ) from None
    if not within(wanted, client.scopes):
        raise ClientRefused(
            f"The client may be given only {format_scopes(client.scopes)}.",
            "scope-not-allowed",
            client.id,
            "invalid_scope",
        )
    return wanted
