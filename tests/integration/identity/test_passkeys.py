"""WebAuthn passkeys: registration and authentication with a software authenticator, on
both databases, and every refusal leaving the stored passkeys as they were."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from coffre import identity
from coffre.identity import AccountNotFound, NewAccount, OrganisationKind, passkeys
from coffre.identity.errors import PasskeyError
from coffre.identity.tables import passkeys as passkey_rows
from softauthn import SoftAuthenticator, b64url, unb64url

RP_ID = "coffre.example"
ORIGIN = "https://coffre.example"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


@pytest.fixture
def people(coffre) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """Two accounts of one clinic: Dr Alice and Dr Bob."""
    with coffre.uow() as uow:
        org = identity.create_organisation(
            uow, "Clinique du Parc", OrganisationKind.CARE_PROVIDER, "FR"
        ).id
        alice, bob = identity.create_accounts(
            uow,
            [
                NewAccount(org, "dr.alice", "a long passphrase 42", "practitioner", "Dr Alice"),
                NewAccount(org, "dr.bob", "a long passphrase 42", "practitioner", "Dr Bob"),
            ],
        )
        uow.commit()
    return alice, bob


def _registration_options(coffre, account: str) -> tuple[str, bytes]:  # type: ignore[no-untyped-def]
    with coffre.reader() as uow:
        return passkeys.registration_options(uow, account, rp_id=RP_ID, rp_name="Coffre")


def _finish(  # type: ignore[no-untyped-def]
    coffre,
    account: str,
    credential: dict[str, Any],
    challenge: bytes,
    *,
    name: str = "Laptop",
    origin: str = ORIGIN,
    now: datetime = T0,
) -> bytes:
    with coffre.uow() as uow:
        credential_id = passkeys.finish_registration(
            uow,
            account,
            credential,
            challenge=challenge,
            rp_id=RP_ID,
            origin=origin,
            name=name,
            now=now,
        )
        uow.commit()
    return credential_id


def _register(  # type: ignore[no-untyped-def]
    coffre, account: str, authenticator: SoftAuthenticator, *, fmt: str = "none", **kw: Any
) -> bytes:
    options, challenge = _registration_options(coffre, account)
    return _finish(
        coffre, account, authenticator.create(options, origin=ORIGIN, fmt=fmt), challenge, **kw
    )


def _sign_in_options(coffre, account: str) -> tuple[str, bytes]:  # type: ignore[no-untyped-def]
    with coffre.reader() as uow:
        return passkeys.authentication_options(uow, account, rp_id=RP_ID)


def _verify(  # type: ignore[no-untyped-def]
    coffre, account: str, assertion: str | dict[str, Any], challenge: bytes, *, now: datetime = T0
) -> bytes:
    with coffre.uow() as uow:
        credential_id = passkeys.verify_authentication(
            uow, account, assertion, challenge=challenge, rp_id=RP_ID, origin=ORIGIN, now=now
        )
        uow.commit()
    return credential_id


def _stored(coffre) -> list[sa.Row[Any]]:  # type: ignore[no-untyped-def]
    """Every stored passkey row, for checking that a refusal wrote nothing."""
    with coffre.reader() as uow:
        return list(
            uow.connection.execute(sa.select(passkey_rows).order_by(passkey_rows.c.credential_id))
        )


def _refused(excinfo: pytest.ExceptionInfo[PasskeyError]) -> str:
    message = str(excinfo.value)
    assert message.endswith(".") and "\n" not in message and "Traceback" not in message
    return message


@pytest.mark.parametrize("fmt", ["none", "packed"])
def test_a_registered_passkey_signs_in_and_its_counter_is_stored(coffre, people, fmt):
    alice, _ = people
    options, challenge = _registration_options(coffre, alice)
    parsed = json.loads(options)
    assert parsed["rp"] == {"id": RP_ID, "name": "Coffre"}
    assert unb64url(parsed["user"]["id"]) == alice.encode()
    assert parsed["user"]["name"] == "dr.alice" and parsed["user"]["displayName"] == "Dr Alice"
    assert parsed["attestation"] == "none"
    assert parsed["authenticatorSelection"]["residentKey"] == "preferred"
    assert parsed["authenticatorSelection"]["userVerification"] == "preferred"
    assert parsed["excludeCredentials"] == []
    assert unb64url(parsed["challenge"]) == challenge

    key = SoftAuthenticator()
    credential_id = _finish(coffre, alice, key.create(options, origin=ORIGIN, fmt=fmt), challenge)
    assert credential_id == key.credential_id
    with coffre.reader() as uow:
        [passkey] = passkeys.list_passkeys(uow, alice)
    assert passkey == passkeys.Passkey(
        key.credential_id, "Laptop", T0, None, ("hybrid", "internal")
    )

    for uses in (1, 2):
        options, challenge = _sign_in_options(coffre, alice)
        parsed = json.loads(options)
        assert [c["id"] for c in parsed["allowCredentials"]] == [key.id]
        assert parsed["allowCredentials"][0]["transports"] == ["hybrid", "internal"]
        assert parsed["userVerification"] == "preferred"
        assertion = key.get(options, origin=ORIGIN)
        assert _verify(coffre, alice, assertion, challenge, now=T0 + uses * MINUTE) == credential_id
        [row] = _stored(coffre)
        assert (row.sign_count, row.last_used_at) == (uses, T0 + uses * MINUTE)


def test_an_assertion_given_as_json_text_is_accepted(coffre, people):
    alice, _ = people
    key = SoftAuthenticator()
    _register(coffre, alice, key)
    options, challenge = _sign_in_options(coffre, alice)
    assert _verify(coffre, alice, json.dumps(key.get(options, origin=ORIGIN)), challenge)


def test_an_authenticator_without_a_counter_signs_in_again(coffre, people):
    alice, _ = people
    key = SoftAuthenticator()
    _register(coffre, alice, key)
    for _ in range(2):
        options, challenge = _sign_in_options(coffre, alice)
        _verify(coffre, alice, key.get(options, origin=ORIGIN, counter=0), challenge)
    assert _stored(coffre)[0].sign_count == 0


def test_a_replayed_or_rewound_counter_is_refused_as_a_possible_clone(coffre, people):
    alice, _ = people
    key = SoftAuthenticator()
    _register(coffre, alice, key)
    options, challenge = _sign_in_options(coffre, alice)
    assertion = key.get(options, origin=ORIGIN, counter=5)
    _verify(coffre, alice, assertion, challenge)
    before = _stored(coffre)

    with pytest.raises(PasskeyError) as replayed:
        _verify(coffre, alice, assertion, challenge, now=T0 + MINUTE)
    assert "cloned" in _refused(replayed)

    options, challenge = _sign_in_options(coffre, alice)
    with pytest.raises(PasskeyError) as rewound:
        _verify(coffre, alice, key.get(options, origin=ORIGIN, counter=3), challenge)
    assert "cloned" in _refused(rewound)

    options, challenge = _sign_in_options(coffre, alice)
    with pytest.raises(PasskeyError, match="cloned"):
        _verify(coffre, alice, key.get(options, origin=ORIGIN, counter=0), challenge)
    assert _stored(coffre) == before


def _tamper_signature(assertion: dict[str, Any]) -> None:
    signature = bytearray(unb64url(assertion["response"]["signature"]))
    signature[-1] ^= 0x01
    assertion["response"]["signature"] = b64url(bytes(signature))


def _tamper_counter(assertion: dict[str, Any]) -> None:
    data = bytearray(unb64url(assertion["response"]["authenticatorData"]))
    data[-1] ^= 0x40
    assertion["response"]["authenticatorData"] = b64url(bytes(data))


@pytest.mark.parametrize(
    "attack",
    [
        "another challenge",
        "wrong origin",
        "wrong rp id",
        "tampered signature",
        "tampered authenticator data",
        "not json",
        "missing signature",
        "registration answer",
    ],
)
def test_a_forged_assertion_is_refused_and_writes_nothing(coffre, people, attack):
    alice, bob = people
    key = SoftAuthenticator()
    _register(coffre, alice, key)
    before = _stored(coffre)
    options, challenge = _sign_in_options(coffre, alice)
    assertion: str | dict[str, Any] = key.get(options, origin=ORIGIN)
    assert isinstance(assertion, dict)
    if attack == "another challenge":
        other, _ = _sign_in_options(coffre, alice)
        assertion = key.get(other, origin=ORIGIN)
    elif attack == "wrong origin":
        assertion = key.get(options, origin="https://coffre.example.evil")
    elif attack == "wrong rp id":
        assertion = key.get(options, origin=ORIGIN, rp_id="evil.example")
    elif attack == "tampered signature":
        _tamper_signature(assertion)
    elif attack == "tampered authenticator data":
        _tamper_counter(assertion)
    elif attack == "not json":
        assertion = "{not json"
    elif attack == "missing signature":
        del assertion["response"]["signature"]
    elif attack == "registration answer":
        registration, _ = _registration_options(coffre, bob)
        assertion = SoftAuthenticator(credential_id=key.credential_id).create(
            registration, origin=ORIGIN
        )
    with pytest.raises(PasskeyError) as refused:
        _verify(coffre, alice, assertion, challenge, now=T0 + MINUTE)
    _refused(refused)
    assert _stored(coffre) == before


def test_a_passkey_of_another_account_is_refused(coffre, people):
    alice, bob = people
    alices, bobs = SoftAuthenticator(), SoftAuthenticator()
    _register(coffre, alice, alices)
    _register(coffre, bob, bobs)
    before = _stored(coffre)

    options, challenge = _sign_in_options(coffre, alice)
    with pytest.raises(PasskeyError, match="not registered for this account"):
        _verify(coffre, alice, bobs.get(options, origin=ORIGIN), challenge)

    alices.user_handle = bob.encode()
    with pytest.raises(PasskeyError, match="another account"):
        _verify(coffre, alice, alices.get(options, origin=ORIGIN), challenge)
    assert _stored(coffre) == before


@pytest.mark.parametrize(
    ("fmt", "tamper"),
    [
        ("none", "challenge"),
        ("none", "origin"),
        ("none", "type"),
        ("packed", "challenge"),
        ("packed", "extra field"),
    ],
)
def test_a_registration_with_tampered_client_data_is_refused(coffre, people, fmt, tamper):
    alice, _ = people
    options, challenge = _registration_options(coffre, alice)
    credential = SoftAuthenticator().create(options, origin=ORIGIN, fmt=fmt)
    client_data = json.loads(unb64url(credential["response"]["clientDataJSON"]))
    if tamper == "challenge":
        client_data["challenge"] = b64url(b"another challenge")
    elif tamper == "origin":
        client_data["origin"] = "https://coffre.example.evil"
    elif tamper == "type":
        client_data["type"] = "webauthn.get"
    else:
        client_data["crossOrigin"] = True
    credential["response"]["clientDataJSON"] = b64url(json.dumps(client_data).encode())
    with pytest.raises(PasskeyError) as refused:
        _finish(coffre, alice, credential, challenge)
    _refused(refused)
    assert _stored(coffre) == []


@pytest.mark.parametrize("attack", ["wrong origin", "wrong rp id", "bad attestation", "not json"])
def test_a_forged_registration_is_refused(coffre, people, attack):
    alice, _ = people
    options, challenge = _registration_options(coffre, alice)
    key = SoftAuthenticator()
    credential: str | dict[str, Any]
    if attack == "wrong origin":
        credential = key.create(options, origin="https://evil.example")
    elif attack == "wrong rp id":
        credential = key.create(options, origin=ORIGIN, rp_id="evil.example")
    elif attack == "bad attestation":
        credential = key.create(options, origin=ORIGIN, fmt="packed")
        credential["response"]["attestationObject"] = b64url(b"\xa1" + b"garbage")
    else:
        credential = "[]"
    with pytest.raises(PasskeyError) as refused:
        _finish(coffre, alice, credential, challenge)
    _refused(refused)
    assert _stored(coffre) == []


def test_a_registered_credential_is_excluded_and_refused_a_second_time(coffre, people):
    alice, bob = people
    key = SoftAuthenticator()
    first, first_challenge = _registration_options(coffre, alice)
    second, second_challenge = _registration_options(coffre, alice)
    for_bob, bob_challenge = _registration_options(coffre, bob)
    _finish(coffre, alice, key.create(first, origin=ORIGIN), first_challenge)
    before = _stored(coffre)

    options, _ = _registration_options(coffre, alice)
    assert [c["id"] for c in json.loads(options)["excludeCredentials"]] == [key.id]
    with pytest.raises(ValueError, match="excluded"):
        key.create(options, origin=ORIGIN)

    with pytest.raises(PasskeyError, match="already registered"):
        _finish(coffre, alice, key.create(second, origin=ORIGIN), second_challenge)
    with pytest.raises(PasskeyError, match="already registered"):
        _finish(coffre, bob, key.create(for_bob, origin=ORIGIN), bob_challenge)
    assert _stored(coffre) == before


def test_a_passkey_needs_a_name(coffre, people):
    alice, _ = people
    options, challenge = _registration_options(coffre, alice)
    credential = SoftAuthenticator().create(options, origin=ORIGIN)
    for name in ("  ", "x" * 101):
        with pytest.raises(PasskeyError, match="name"):
            _finish(coffre, alice, credential, challenge, name=name)
    assert _stored(coffre) == []


def test_passkeys_are_listed_and_removed(coffre, people):
    alice, bob = people
    laptop, phone = SoftAuthenticator(), SoftAuthenticator(transports=("usb",))
    _register(coffre, alice, laptop, name=" Laptop ")
    _register(coffre, alice, phone, fmt="packed", name="Phone", now=T0 + MINUTE)
    with coffre.reader() as uow:
        listed = passkeys.list_passkeys(uow, alice)
        assert passkeys.list_passkeys(uow, bob) == []
    assert [(p.credential_id, p.name, p.created_at, p.transports) for p in listed] == [
        (laptop.credential_id, "Laptop", T0, ("hybrid", "internal")),
        (phone.credential_id, "Phone", T0 + MINUTE, ("usb",)),
    ]

    with coffre.uow() as uow, pytest.raises(PasskeyError, match="no such passkey"):
        passkeys.remove_passkey(uow, bob, laptop.credential_id)
    with coffre.uow() as uow:
        passkeys.remove_passkey(uow, alice, laptop.credential_id)
        uow.commit()
    with coffre.uow() as uow, pytest.raises(PasskeyError, match="no such passkey"):
        passkeys.remove_passkey(uow, alice, laptop.credential_id)
    with coffre.reader() as uow:
        assert [p.name for p in passkeys.list_passkeys(uow, alice)] == ["Phone"]

    options, challenge = _sign_in_options(coffre, alice)
    assert [c["id"] for c in json.loads(options)["allowCredentials"]] == [phone.id]
    with pytest.raises(PasskeyError, match="not registered"):
        _verify(coffre, alice, laptop.get(options, origin=ORIGIN), challenge)
    assert (
        _verify(coffre, alice, phone.get(options, origin=ORIGIN), challenge) == phone.credential_id
    )


def test_signing_in_needs_a_passkey(coffre, people):
    alice, _ = people
    with coffre.reader() as uow, pytest.raises(PasskeyError, match="no passkey"):
        passkeys.authentication_options(uow, alice, rp_id=RP_ID)


def test_an_unknown_account_registers_nothing(coffre, people):
    alice, _ = people
    with coffre.reader() as uow, pytest.raises(AccountNotFound):
        passkeys.registration_options(uow, "no-such-account", rp_id=RP_ID, rp_name="Coffre")
    options, challenge = _registration_options(coffre, alice)
    credential = SoftAuthenticator().create(options, origin=ORIGIN)
    with pytest.raises(AccountNotFound):
        _finish(coffre, "no-such-account", credential, challenge)
    assert _stored(coffre) == []
