"""Organisations and accounts: the minimum the vault and the demo need."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from coffre.identity.actors import OrganisationKind
from coffre.identity.errors import AccountExists, IdentityError, OrganisationNotFound
from coffre.identity.passwords import hash_password
from coffre.identity.tables import accounts, organisations
from coffre.store import UnitOfWork


@dataclass(frozen=True)
class Organisation:
    id: str
    name: str
    kind: OrganisationKind
    country: str


@dataclass(frozen=True)
class NewAccount:
    organisation_id: str
    username: str
    password: str
    role: str
    display_name: str
    profession: str | None = None
    specialty: str | None = None
    professional_id: str | None = None
    totp_secret: bytes | None = None  # already sealed by the caller
    patient_id: str | None = None
    # The holder's own family name and address as blind-index digests (identity.personal).
    family_digest: bytes | None = None
    address_digest: bytes | None = None


def create_organisation(
    uow: UnitOfWork, name: str, kind: OrganisationKind, country: str
) -> Organisation:
    """Add an organisation and return it; the caller commits."""
    if len(country) != 2 or not country.isalpha():
        raise IdentityError(f"The country {country!r} is not a two-letter code such as FR or BE.")
    org = Organisation(str(uuid.uuid4()), name.strip(), kind, country.upper())
    if not org.name:
        raise IdentityError("An organisation needs a name.")
    uow.connection.execute(
        organisations.insert().values(
            id=org.id,
            name=org.name,
            kind=org.kind.value,
            country=org.country,
            created_at=datetime.now(UTC),
        )
    )
    return org


def list_organisations(uow: UnitOfWork) -> list[Organisation]:
    rows = uow.connection.execute(
        sa.select(organisations).order_by(organisations.c.created_at)
    ).all()
    return [Organisation(r.id, r.name, OrganisationKind(r.kind), r.country) for r in rows]


def get_organisation(uow: UnitOfWork, organisation_id: str) -> Organisation:
    """The organisation; raise OrganisationNotFound if there is none with that id."""
    row = uow.connection.execute(
        sa.select(organisations).where(organisations.c.id == organisation_id)
    ).first()
    if row is None:
        raise OrganisationNotFound(f"There is no organisation with id {organisation_id}.")
    return Organisation(row.id, row.name, OrganisationKind(row.kind), row.country)


def create_accounts(uow: UnitOfWork, new: list[NewAccount]) -> list[str]:
    """Add accounts with argon2id password hashes; return their ids. The caller commits."""
    ids = [str(uuid.uuid4()) for _ in new]
    now = datetime.now(UTC)
    try:
        uow.connection.execute(
            accounts.insert(),
            [
                {
                    "id": account_id,
                    "organisation_id": a.organisation_id,
                    "username": a.username,
                    "password_hash": hash_password(a.password),
                    "role": a.role,
                    "profession": a.profession,
                    "specialty": a.specialty,
                    "professional_id": a.professional_id,
                    "display_name": a.display_name,
                    "totp_secret": a.totp_secret,
                    "patient_id": a.patient_id,
                    "family_digest": a.family_digest,
                    "address_digest": a.address_digest,
                    "created_at": now,
                }
                for account_id, a in zip(ids, new, strict=True)
            ],
        )
    except IntegrityError:
        raise AccountExists("An account with one of these usernames already exists.") from None
    return ids
