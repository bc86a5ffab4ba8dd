"""Organisations, accounts and the actors that every decision and journal entry name."""

from coffre.identity.actors import Actor, ActorKind, OrganisationKind, local_operator
from coffre.identity.errors import AccountExists, IdentityError, OrganisationNotFound
from coffre.identity.service import (
    NewAccount,
    Organisation,
    create_accounts,
    create_organisation,
    get_organisation,
    hash_password,
    list_organisations,
)

__all__ = [
    "AccountExists",
    "Actor",
    "ActorKind",
    "IdentityError",
    "NewAccount",
    "Organisation",
    "OrganisationKind",
    "OrganisationNotFound",
    "create_accounts",
    "create_organisation",
    "get_organisation",
    "hash_password",
    "list_organisations",
    "local_operator",
]
