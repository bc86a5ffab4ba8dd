"""Machine clients and tokens, on SQLite and PostgreSQL: a client proves its key to get a
token, every bad assertion is refused and journaled, revocations and suspensions bite on
the next request, ceilings hold, personal access tokens work and stop."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm

import machineclients
from coffre import identity, signin
from coffre.access import AccessDenied
from coffre.identity import (
    ActorKind,
    CeilingReached,
    ClientError,
    ClientRefused,
    InvalidScope,
    NewAccount,
    OrganisationKind,
    TokenRefused,
    local_operator,
)
from factories import journal_records
from machineclients import AUDIENCE, KEY, jwks

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
PASSWORD = "violet kettle orbit 1968"
SCOPES = "system/Patient.rs system/Observation.r"
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())


def assertion(client_id: str, now: datetime = T0, **options: object) -> str:
    return machineclients.assertion(client_id, now, **options)  # type: ignore[arg-type]


def part(value: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def with_header(text: str, **header: object) -> str:
    """The assertion with another header (its signature no longer matches)."""
    _, body, signature = text.split(".")
    return f"{part({'typ': 'JWT', 'kid': 'k1', **header})}.{body}.{signature}"


def unsigned(client_id: str, now: datetime = T0) -> str:
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": AUDIENCE,
        "exp": int((now + timedelta(minutes=4)).timestamp()),
        "jti": uuid.uuid4().hex,
    }
    return f"{part({'alg': 'none', 'typ': 'JWT', 'kid': 'k1'})}.{part(claims)}."


@pytest.fixture
def org(coffre) -> str:  # type: ignore[no-untyped-def]
    with coffre.uow() as uow:
        org_id = identity.create_organisation(
            uow, "Laboratoire Sud", OrganisationKind.CARE_PROVIDER, "FR"
        ).id
        identity.create_accounts(
            uow,
            [
                NewAccount(org_id, "dr.martin", PASSWORD, "practitioner", "Dr Martin", "physician"),
                NewAccount(org_id, "secu", PASSWORD, "security-officer", "Security officer"),
                NewAccount(org_id, "admin", PASSWORD, "organisation-admin", "Administrator"),
            ],
        )
        uow.commit()
    return org_id


def account(coffre, name: str):  # type: ignore[no-untyped-def]
    with coffre.reader() as uow:
        return identity.actor_for(uow, name, source="198.51.100.7")


def add(coffre, org: str, **changes: object) -> identity.Client:  # type: ignore[no-untyped-def]
    values: dict[str, object] = {
        "expires_at": T0 + timedelta(days=365),
        "per_hour": 1000,
        "per_day": 10_000,
        "now": T0,
    }
    values.update(changes)
    return signin.add_client(
        coffre.uow(),
        local_operator(org),
        org,
        "Lab results feed",
        jwks(("k1", KEY.public_key())),
        SCOPES,
        **values,  # type: ignore[arg-type]
    )


def token(coffre, client_id: str, now: datetime = T0, **options: object) -> signin.IssuedToken:  # type: ignore[no-untyped-def]
    return signin.client_token(
        coffre.uow(),
        assertion(client_id, now),
        audience=AUDIENCE,
        source="203.0.113.9",
        now=now,
        **options,  # type: ignore[arg-type]
    )


def refused(coffre, client_id: str, text: str, now: datetime = T0) -> ClientRefused:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientRefused) as raised:
        signin.client_token(coffre.uow(), text, audience=AUDIENCE, source="203.0.113.9", now=now)
    last = journal_records(coffre)[-1]
    assert (last.action, last.outcome, last.decision) == ("identity:token:create", "denied", "deny")
    assert last.rule == raised.value.rule
    assert text not in json.dumps(last.__dict__)
    if raised.value.client_id is not None:
        assert last.actor_id == client_id and last.resource_ids == (f"client:{client_id}",)
    return raised.value


def test_a_client_proves_its_key_gets_a_token_and_acts_with_it(coffre, org):
    client = add(coffre, org)
    assert client.scopes == identity.parse_scopes(SCOPES)
    issued = token(coffre, client.id)
    assert (issued.token_type, issued.expires_in, issued.scope) == (
        "Bearer",
        300,
        "system/Observation.r system/Patient.rs",
    )
    actor = signin.token_actor(coffre.uow(), issued.access_token, T0, source="203.0.113.9")
    assert (actor.kind, actor.id, actor.organisation_id) == (ActorKind.CLIENT, client.id, org)
    assert actor.organisation_kind is OrganisationKind.CARE_PROVIDER
    assert actor.session_id == issued.info.reference
    assert identity.allows(actor.scopes, "Patient", "s")
    assert not identity.allows(actor.scopes, "Observation", "s")
    narrowed = token(coffre, client.id, scope="system/Patient.r")
    assert narrowed.scope == "system/Patient.r"
    last = journal_records(coffre)[-1]
    assert (last.action, last.outcome, last.actor_kind) == (
        "identity:token:create",
        "success",
        "client",
    )
    assert last.resource_ids == (f"client:{client.id}", f"token:{narrowed.info.reference}")
    assert issued.access_token not in json.dumps([r.__dict__ for r in journal_records(coffre)])


def test_bad_assertions_are_refused_and_journaled(coffre, org):
    client = add(coffre, org)
    used = assertion(client.id)
    signin.client_token(coffre.uow(), used, audience=AUDIENCE, source="203.0.113.9", now=T0)
    cases = [
        (used, "client-assertion-replayed"),
        (assertion(client.id, aud="https://elsewhere.example/token"), "client-assertion-audience"),
        (assertion(client.id, T0 - timedelta(minutes=10)), "client-assertion-expired"),
        (
            assertion(client.id, exp=int((T0 + timedelta(hours=1)).timestamp())),
            "client-assertion-lifetime",
        ),
        (assertion(client.id, key=OTHER_KEY), "client-assertion-signature"),
        (assertion(client.id, kid="k2"), "client-assertion-key"),
        (with_header(assertion(client.id), alg="ES384"), "client-assertion-algorithm"),
        (unsigned(client.id), "client-assertion-algorithm"),
        (assertion(client.id, sub="someone-else"), "client-assertion-malformed"),
        (assertion(client.id, jti=None), "client-assertion-malformed"),
        ("not a jwt", "client-assertion-malformed"),
    ]
    for text, rule in cases:
        assert refused(coffre, client.id, text).rule == rule, rule
    hs256 = jwt.encode(
        {"iss": client.id, "sub": client.id}, "a shared secret of at least 32 bytes", "HS256"
    )
    assert refused(coffre, client.id, hs256).rule == "client-assertion-algorithm"
    stranger = refused(coffre, "x", assertion("no-such-client"))
    assert (stranger.rule, stranger.client_id) == ("client-unknown", None)
    last = journal_records(coffre)[-1]
    assert last.actor_id.startswith("unknown:") and "no-such-client" not in last.actor_id


def test_expired_revoked_and_suspended_clients_get_no_token(coffre, org):
    expiring = add(coffre, org, expires_at=T0 + timedelta(days=1))
    later = T0 + timedelta(days=1, minutes=1)
    assert refused(coffre, expiring.id, assertion(expiring.id, later), later).rule == (
        "client-expired"
    )
    client = add(coffre, org)
    issued = token(coffre, client.id)
    officer = account(coffre, "secu")
    with pytest.raises(AccessDenied):
        signin.suspend_client(coffre.uow(), account(coffre, "dr.martin"), client.id, "x", now=T0)
    signin.suspend_client(coffre.uow(), officer, client.id, "bulk reads at night", now=T0)
    with coffre.reader() as uow:
        suspended = identity.clients.get_client(uow, client.id)
    assert (suspended.suspended_by, suspended.suspended_reason) == (
        officer.id,
        "bulk reads at night",
    )
    with pytest.raises(TokenRefused, match="suspended"):
        signin.token_actor(coffre.uow(), issued.access_token, T0)
    assert refused(coffre, client.id, assertion(client.id)).rule == "client-suspended"
    signin.resume_client(coffre.uow(), officer, client.id)
    assert signin.token_actor(coffre.uow(), issued.access_token, T0).id == client.id
    signin.revoke_client(coffre.uow(), account(coffre, "admin"), client.id, T0)
    with pytest.raises(TokenRefused, match="revoked"):
        signin.token_actor(coffre.uow(), issued.access_token, T0)
    assert refused(coffre, client.id, assertion(client.id)).rule == "client-revoked"
    with pytest.raises(ClientError, match="already"):
        signin.revoke_client(coffre.uow(), local_operator(org), client.id, T0)
    changes = [r for r in journal_records(coffre) if r.action == "identity:client:update"]
    assert [(r.outcome, dict(r.facts).get("change")) for r in changes] == [
        ("denied", "suspend"),
        ("success", "suspend"),
        ("success", "resume"),
        ("success", "revoke"),
    ]
    assert "bulk reads" not in json.dumps([r.__dict__ for r in changes])


def test_tokens_end_with_their_lifetime_and_when_revoked(coffre, org):
    client = add(coffre, org, token_lifetime=timedelta(minutes=2))
    issued = token(coffre, client.id, lifetime=timedelta(minutes=10))
    assert issued.expires_in == 120
    moment = T0 + timedelta(seconds=119)
    assert signin.token_actor(coffre.uow(), issued.access_token, moment).id == client.id
    with pytest.raises(TokenRefused, match="expired"):
        signin.token_actor(coffre.uow(), issued.access_token, T0 + timedelta(minutes=2))
    second = token(coffre, client.id)
    assert signin.token_actor(coffre.uow(), second.access_token, T0)
    signin.revoke_token(coffre.uow(), local_operator(org), second.info.reference, T0)
    with pytest.raises(TokenRefused, match="revoked"):
        signin.token_actor(coffre.uow(), second.access_token, T0)
    with pytest.raises(TokenRefused, match="not known"):
        signin.token_actor(coffre.uow(), "made-up", T0)


def test_a_client_is_given_no_scope_beyond_its_own(coffre, org):
    client = add(coffre, org)
    for scope, rule in (
        ("system/Observation.rs", "scope-not-allowed"),
        ("system/*.r", "scope-not-allowed"),
        ("user/Patient.r", "scope-invalid"),
        ("system/Patient.xyz", "scope-invalid"),
    ):
        with pytest.raises(ClientRefused) as raised:
            token(coffre, client.id, scope=scope)
        assert (raised.value.error, raised.value.rule) == ("invalid_scope", rule)
        last = journal_records(coffre)[-1]
        assert (last.rule, last.outcome) == (rule, "denied")
        assert "xyz" not in last.explanation


def register(coffre, actor, org: str, keys: str, scopes: str = SCOPES) -> identity.Client:  # type: ignore[no-untyped-def]
    return signin.add_client(
        coffre.uow(),
        actor,
        org,
        "Feed",
        keys,
        scopes,
        expires_at=T0 + timedelta(days=1),
        per_hour=1,
        per_day=1,
        now=T0,
    )


def test_only_public_strong_keys_and_allowed_people_register_clients(coffre, org):
    operator, good = local_operator(org), jwks(("k1", KEY.public_key()))
    weak_rsa = rsa.generate_private_key(65537, 1024).public_key()  # noqa: S505
    p521 = ec.generate_private_key(ec.SECP521R1()).public_key()
    private = {**ECAlgorithm.to_jwk(KEY, as_dict=True), "kid": "k1"}
    for keys, why in (
        (jwks(("k1", weak_rsa)), "shorter than 2048"),
        (jwks(("k1", p521)), "P-256 or P-384"),
        (json.dumps({"keys": [private]}), "private key"),
        (jwks(("k1", KEY.public_key()), ("k1", OTHER_KEY.public_key())), "same kid"),
        ('{"keys": []}', "non-empty"),
        ("not json", "JSON"),
    ):
        with pytest.raises(ClientError, match=why):
            register(coffre, operator, org, keys)
    with pytest.raises(InvalidScope):
        register(coffre, operator, org, good, "user/Patient.r")
    day = T0 + timedelta(days=1)
    for changes, why in (
        ({"name": " "}, "name"),
        ({"token_lifetime": timedelta(hours=2)}, "between 1 and 60 minutes"),
        ({"expires_at": T0}, "future"),
        ({"per_hour": 0}, "at least one"),
        ({"per_hour": 10, "per_day": 5}, "below its hourly"),
        ({"organisation_id": "no-such-org"}, "no organisation"),
    ):
        values: dict[str, object] = {
            "organisation_id": org,
            "name": "Feed",
            "jwks": good,
            "scopes": SCOPES,
            "expires_at": day,
            "per_hour": 1,
            "per_day": 10,
            "now": T0,
            **changes,
        }
        with coffre.uow() as uow, pytest.raises(identity.IdentityError, match=why):
            identity.clients.register_client(uow, **values)  # type: ignore[arg-type]
    strong_rsa = rsa.generate_private_key(65537, 2048).public_key()
    mixed = register(coffre, operator, org, jwks(("r1", strong_rsa), ("e1", KEY.public_key())))
    assert mixed.key_ids == ("r1", "e1")
    with pytest.raises(AccessDenied):
        register(coffre, account(coffre, "dr.martin"), org, good)
    last = journal_records(coffre)[-1]
    assert (last.action, last.outcome, last.rule) == (
        "identity:client:create",
        "denied",
        "client-admin",
    )
    by_admin = register(coffre, account(coffre, "admin"), org, good)
    with coffre.reader() as uow:
        listed = [c.id for c in identity.clients.list_clients(uow, org)]
    assert sorted(listed) == sorted([mixed.id, by_admin.id])


def charge(coffre, client_id: str, records: int, now: datetime) -> identity.Usage:  # type: ignore[no-untyped-def]
    with coffre.uow() as uow:
        try:
            return identity.usage.charge(uow, client_id, records, now)
        finally:
            uow.commit()


def test_the_hour_ceiling_is_reached_exactly_then_refused(coffre, org):
    client = add(coffre, org, per_hour=10, per_day=100)
    assert charge(coffre, client.id, 4, T0).hour == 4
    usage = charge(coffre, client.id, 6, T0 + timedelta(minutes=30))
    assert (usage.hour, usage.day, usage.per_hour, usage.per_day) == (10, 10, 10, 100)
    firsts = []
    for _ in range(2):
        with pytest.raises(CeilingReached) as raised:
            charge(coffre, client.id, 1, T0 + timedelta(minutes=40))
        assert (raised.value.period, raised.value.client_id) == ("hour", client.id)
        firsts.append(raised.value.first)
    assert firsts == [True, False]  # the security officer is told once an hour
    assert charge(coffre, client.id, 0, T0 + timedelta(minutes=50)).hour == 10
    assert charge(coffre, client.id, 10, T0 + timedelta(hours=1)).hour == 10
    with pytest.raises(ValueError, match="negative"):
        charge(coffre, client.id, -1, T0)
    with pytest.raises(identity.ClientNotFound):
        charge(coffre, "no-such-client", 1, T0)


def test_the_day_ceiling_counts_the_last_24_hours(coffre, org):
    client = add(coffre, org, per_hour=10, per_day=25)
    for hour, records in ((0, 10), (1, 10), (2, 5)):
        charge(coffre, client.id, records, T0 + timedelta(hours=hour))
    with pytest.raises(CeilingReached) as raised:
        charge(coffre, client.id, 1, T0 + timedelta(hours=3))
    assert raised.value.period == "day"
    with pytest.raises(CeilingReached):
        charge(coffre, client.id, 1, T0 + timedelta(hours=23, minutes=59))
    usage = charge(coffre, client.id, 1, T0 + timedelta(hours=24))
    assert (usage.hour, usage.day) == (1, 16)


def test_personal_tokens_are_issued_checked_and_revoked(coffre, org):
    operator = local_operator(org)
    secret, info = signin.issue_personal_token(
        coffre.uow(), operator, "dr.martin", "user/Patient.rs", timedelta(hours=1), "backup", T0
    )
    actor = signin.token_actor(coffre.uow(), secret, T0 + timedelta(minutes=59))
    assert (actor.kind, actor.role, actor.session_id) == (
        ActorKind.ACCOUNT,
        "practitioner",
        info.reference,
    )
    assert identity.allows(actor.scopes, "Patient", "r", context="user")
    with pytest.raises(TokenRefused, match="expired"):
        signin.token_actor(coffre.uow(), secret, T0 + timedelta(hours=1))
    last = journal_records(coffre)[-1]
    assert (last.action, dict(last.facts)["scopes"]) == ("identity:token:create", "user/Patient.rs")
    assert "backup" not in json.dumps(last.__dict__)
    with pytest.raises(InvalidScope):
        signin.issue_personal_token(
            coffre.uow(), operator, "dr.martin", "system/Patient.r", timedelta(hours=1)
        )
    with pytest.raises(ClientError, match="90 days"):
        signin.issue_personal_token(
            coffre.uow(), operator, "dr.martin", "user/Patient.r", timedelta(days=91)
        )
    with pytest.raises(AccessDenied):
        signin.issue_personal_token(
            coffre.uow(), account(coffre, "secu"), "dr.martin", "user/Patient.r", timedelta(1)
        )
    own = account(coffre, "dr.martin")
    secret, info = signin.issue_personal_token(
        coffre.uow(), own, "dr.martin", "user/Patient.r", timedelta(days=7), now=T0
    )
    signin.revoke_token(coffre.uow(), own, info.reference, T0)
    with pytest.raises(TokenRefused, match="revoked"):
        signin.token_actor(coffre.uow(), secret, T0)


def test_a_suspended_account_or_token_stops_at_the_next_request(coffre, org):
    operator = local_operator(org)
    secret, info = signin.issue_personal_token(
        coffre.uow(), operator, "dr.martin", "user/*.rs", timedelta(days=1), now=T0
    )
    officer = account(coffre, "secu")
    signin.suspend_token(coffre.uow(), officer, info.reference, "leaked in a log", now=T0)
    with pytest.raises(TokenRefused, match="suspended"):
        signin.token_actor(coffre.uow(), secret, T0)
    signin.resume_token(coffre.uow(), officer, info.reference)
    assert signin.token_actor(coffre.uow(), secret, T0).id == info.account_id
    signin.suspend_account(coffre.uow(), officer, "dr.martin", "mass reads", now=T0)
    with pytest.raises(TokenRefused, match="account is suspended"):
        signin.token_actor(coffre.uow(), secret, T0)
    with pytest.raises(ClientError, match="suspended"):
        signin.issue_personal_token(
            coffre.uow(), operator, "dr.martin", "user/*.rs", timedelta(days=1), now=T0
        )
    updates = [r for r in journal_records(coffre) if r.action == "identity:token:update"]
    assert [dict(r.facts)["change"] for r in updates] == ["suspend", "resume"]
    with pytest.raises(ClientError, match="no token"):
        signin.revoke_token(coffre.uow(), operator, "0011223344556677", T0)
