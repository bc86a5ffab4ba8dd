"""A professional's own family name and address, kept as blind-index digests only.

Opening the record of a relative (same family name) or a neighbour (same address) is a
common insider misuse. To see it without storing who a professional's family is or where
they live, an account keeps the blind-index digests of its holder's family name and postal
address, computed like the patients' own (index kinds FAMILY and ADDRESS, same key). The
records service compares digests when it decides (`personal_digest`); the names and the
address are never stored, and never leave the process that computed the digests.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from coffre.crypto import BlindIndex, IndexKind, split_address
from coffre.identity.directory import find_account
from coffre.identity.errors import IdentityError
from coffre.identity.tables import accounts
from coffre.store import UnitOfWork

ADDRESS_FORM = "'STREET, POSTCODE CITY', such as '12 rue des Lilas, 75011 Paris'"


@dataclass(frozen=True)
class PersonalDigests:
    family: bytes
    address: bytes | None = None


def personal_digests(blind: BlindIndex, family: str, address: str | None = None) -> PersonalDigests:
    """The digests of a family name and (if given) an address written on one line; raise
    IdentityError when either has nothing to compare."""
    family_digest = blind.family(family)
    if family_digest is None:
        raise IdentityError("A family name needs at least one letter.")
    if address is None or not address.strip():
        return PersonalDigests(family_digest)
    split = split_address(address)
    address_digest = blind.address(*split) if split is not None else None
    if address_digest is None:
        raise IdentityError(f"Write the address as {ADDRESS_FORM}.")
    return PersonalDigests(family_digest, address_digest)


def set_personal(
    uow: UnitOfWork, blind: BlindIndex, account: str, family: str, address: str | None = None
) -> str:
    """Keep the digests of the account holder's family name and address (replacing both:
    an address not given is forgotten); return the account's id. Raises AccountNotFound or
    IdentityError. The caller commits."""
    digests = personal_digests(blind, family, address)
    account_id = find_account(uow, account).id
    uow.connection.execute(
        accounts.update()
        .where(accounts.c.id == account_id)
        .values(family_digest=digests.family, address_digest=digests.address)
    )
    return account_id


_COLUMNS = {
    IndexKind.FAMILY: accounts.c.family_digest,
    IndexKind.ADDRESS: accounts.c.address_digest,
}


def personal_digest(account_id: sa.ColumnElement[str], kind: IndexKind) -> sa.ScalarSelect[bytes]:
    """The account's digest of this kind (FAMILY or ADDRESS) as a subquery, NULL when it has
    none or `account_id` is no account: for the records service to compare with a patient's
    digests inside its own query."""
    column = _COLUMNS[kind]
    return sa.select(column).where(accounts.c.id == account_id).scalar_subquery()
