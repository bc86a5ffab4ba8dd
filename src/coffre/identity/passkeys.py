"""WebAuthn passkeys: a second factor today, a passwordless sign-in later.

The ceremonies are py_webauthn's: this module chooses the options, stores the credential's
public key and counter, and turns every refusal into a `PasskeyError` of one sentence.
Callers keep each challenge server-side, use it once, and commit the unit of work.

py_webauthn is imported by the functions that use it: importing it (with the X.509
machinery it loads) takes a fifth of a second, which every command would otherwise pay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from coffre.identity.errors import AccountNotFound, PasskeyError
from coffre.identity.tables import accounts, passkeys
from coffre.store import UnitOfWork

if TYPE_CHECKING:
    from webauthn.helpers.structs import AuthenticatorTransport, PublicKeyCredentialDescriptor

MAX_CREDENTIAL_ID = 1023
MAX_NAME = 100


def _malformed() -> tuple[type[Exception], ...]:
    """What a malformed credential can raise inside py_webauthn besides its own exceptions
    (base64, CBOR and key decoding errors are ValueErrors)."""
    from webauthn.helpers.exceptions import WebAuthnException

    return (WebAuthnException, ValueError, TypeError, KeyError, IndexError, OverflowError)


@dataclass(frozen=True)
class Passkey:
    """A registered passkey as its owner sees it: never its key."""

    credential_id: bytes
    name: str
    created_at: datetime
    last_used_at: datetime | None
    transports: tuple[str, ...]


def _transports(stored: str) -> list[AuthenticatorTransport]:
    from webauthn.helpers.structs import AuthenticatorTransport

    found = []
    for value in stored.split(","):
        try:
            found.append(AuthenticatorTransport(value))
        except ValueError:
            continue
    return found


def _descriptors(uow: UnitOfWork, account_id: str) -> list[PublicKeyCredentialDescriptor]:
    from webauthn.helpers.structs import PublicKeyCredentialDescriptor

    rows = uow.connection.execute(
        sa.select(passkeys.c.credential_id, passkeys.c.transports)
        .where(passkeys.c.account_id == account_id)
        .order_by(passkeys.c.created_at, passkeys.c.credential_id)
    )
    return [
        PublicKeyCredentialDescriptor(id=row.credential_id, transports=_transports(row.transports))
        for row in rows
    ]


def registration_options(
    uow: UnitOfWork, account_id: str, *, rp_id: str, rp_name: str
) -> tuple[str, bytes]:
    """The options for `navigator.credentials.create()` (JSON) and their challenge."""
    row = uow.connection.execute(
        sa.select(accounts.c.username, accounts.c.display_name).where(accounts.c.id == account_id)
    ).first()
    if row is None:
        raise AccountNotFound(f"There is no account {account_id!r}.")
    import webauthn
    from webauthn.helpers.structs import (
        AttestationConveyancePreference,
        AuthenticatorSelectionCriteria,
        ResidentKeyRequirement,
        UserVerificationRequirement,
    )

    options = webauthn.generate_registration_options(
        rp_id=rp_id,
        rp_name=rp_name,
        user_name=row.username,
        user_id=account_id.encode(),
        user_display_name=row.display_name,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=_descriptors(uow, account_id),
    )
    return webauthn.options_to_json(options), options.challenge


def finish_registration(
    uow: UnitOfWork,
    account_id: str,
    credential: str | dict[str, Any],
    *,
    challenge: bytes,
    rp_id: str,
    origin: str,
    name: str,
    now: datetime,
) -> bytes:
    """Verify the authenticator's answer to `registration_options` and store the passkey
    under this name; return its credential id."""
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise PasskeyError(f"A passkey needs a name of 1 to {MAX_NAME} characters.")
    found = uow.connection.execute(
        sa.select(accounts.c.id).where(accounts.c.id == account_id)
    ).first()
    if found is None:
        raise AccountNotFound(f"There is no account {account_id!r}.")
    import webauthn
    from webauthn.helpers import parse_registration_credential_json

    try:
        parsed = parse_registration_credential_json(credential)
        verified = webauthn.verify_registration_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
        )
    except _malformed() as exc:
        raise PasskeyError("The passkey's registration could not be verified.") from exc
    credential_id = verified.credential_id
    if len(credential_id) > MAX_CREDENTIAL_ID:
        raise PasskeyError("The passkey's credential id is too long.")
    exists = uow.connection.execute(
        sa.select(passkeys.c.account_id).where(passkeys.c.credential_id == credential_id)
    ).first()
    if exists is not None:
        raise PasskeyError("This passkey is already registered.")
    transports = sorted({t.value for t in parsed.response.transports or ()})
    try:
        uow.connection.execute(
            passkeys.insert().values(
                credential_id=credential_id,
                account_id=account_id,
                public_key=verified.credential_public_key,
                sign_count=verified.sign_count,
                transports=",".join(transports),
                name=name,
                created_at=now,
                last_used_at=None,
            )
        )
    except sa.exc.IntegrityError:
        raise PasskeyError("This passkey is already registered.") from None
    return credential_id


def authentication_options(uow: UnitOfWork, account_id: str, *, rp_id: str) -> tuple[str, bytes]:
    """The options for `navigator.credentials.get()` (JSON), allowing the account's passkeys,
    and their challenge."""
    allowed = _descriptors(uow, account_id)
    if not allowed:
        raise PasskeyError("This account has no passkey.")
    import webauthn
    from webauthn.helpers.structs import UserVerificationRequirement

    options = webauthn.generate_authentication_options(
        rp_id=rp_id,
        allow_credentials=allowed,
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return webauthn.options_to_json(options), options.challenge


def verify_authentication(
    uow: UnitOfWork,
    account_id: str,
    credential: str | dict[str, Any],
    *,
    challenge: bytes,
    rp_id: str,
    origin: str,
    now: datetime,
) -> bytes:
    """Verify an assertion by one of the account's passkeys and record its use; return its
    credential id.

    py_webauthn verifies the signature first; the counter is compared afterwards, so that
    only a genuinely signed assertion whose counter did not increase is called a clone.
    """
    import webauthn
    from webauthn.helpers import parse_authentication_credential_json

    try:
        parsed = parse_authentication_credential_json(credential)
    except _malformed() as exc:
        raise PasskeyError("The passkey's answer could not be read.") from exc
    row = uow.connection.execute(
        sa.select(passkeys.c.public_key, passkeys.c.sign_count).where(
            passkeys.c.credential_id == parsed.raw_id, passkeys.c.account_id == account_id
        )
    ).first()
    if row is None:
        raise PasskeyError("This passkey is not registered for this account.")
    handle = parsed.response.user_handle
    if handle is not None and handle != account_id.encode():
        raise PasskeyError("This passkey was created for another account.")
    try:
        verified = webauthn.verify_authentication_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            credential_public_key=row.public_key,
            credential_current_sign_count=0,
        )
    except _malformed() as exc:
        raise PasskeyError("The passkey's signature could not be verified.") from exc
    stored, counted = row.sign_count, verified.new_sign_count
    cloned = PasskeyError(
        "The passkey's signature counter did not increase, so the authenticator may have "
        "been cloned."
    )
    if (stored or counted) and counted <= stored:
        raise cloned
    done = uow.connection.execute(
        passkeys.update()
        .where(
            passkeys.c.credential_id == parsed.raw_id,
            passkeys.c.account_id == account_id,
            passkeys.c.sign_count == stored,
        )
        .values(sign_count=counted, last_used_at=now)
    ).rowcount
    if not done:
        raise cloned
    return bytes(parsed.raw_id)


def list_passkeys(uow: UnitOfWork, account_id: str) -> list[Passkey]:
    """The account's passkeys, oldest first."""
    rows = uow.connection.execute(
        sa.select(passkeys)
        .where(passkeys.c.account_id == account_id)
        .order_by(passkeys.c.created_at, passkeys.c.credential_id)
    )
    return [
        Passkey(
            bytes(row.credential_id),
            row.name,
            row.created_at,
            row.last_used_at,
            tuple(t for t in row.transports.split(",") if t),
        )
        for row in rows
    ]


def remove_passkey(uow: UnitOfWork, account_id: str, credential_id: bytes) -> None:
    """Remove one of the account's passkeys."""
    done = uow.connection.execute(
        passkeys.delete().where(
            passkeys.c.credential_id == credential_id, passkeys.c.account_id == account_id
        )
    ).rowcount
    if not done:
        raise PasskeyError("This account has no such passkey.")
