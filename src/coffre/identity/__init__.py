"""Organisations, accounts and the actors that every decision and journal entry name."""

from coffre.identity.actors import Actor, ActorKind, Contract, OrganisationKind, local_operator
from coffre.identity.directory import (
    Account,
    actor_for,
    add_contract,
    contracts_in_force,
    create_care_team,
    find_account,
    is_suspended,
    list_accounts,
    password_hash_of,
    session_by_reference,
    set_organisation_matrix,
    set_password_hash,
    set_suspended,
    team_organisation,
)
from coffre.identity.errors import (
    AccountExists,
    AccountNotFound,
    IdentityError,
    OrganisationNotFound,
)
from coffre.identity.passwords import WeakPassword, check_new_password, hash_password
from coffre.identity.service import (
    NewAccount,
    Organisation,
    create_accounts,
    create_organisation,
    get_organisation,
    list_organisations,
)

__all__ = [
    "Account",
    "AccountExists",
    "AccountNotFound",
    "Actor",
    "ActorKind",
    "Contract",
    "IdentityError",
    "NewAccount",
    "Organisation",
    "OrganisationKind",
    "OrganisationNotFound",
    "WeakPassword",
    "actor_for",
    "add_contract",
    "check_new_password",
    "contracts_in_force",
    "create_accounts",
    "create_care_team",
    "create_organisation",
    "find_account",
    "get_organisation",
    "hash_password",
    "is_suspended",
    "list_accounts",
    "list_organisations",
    "local_operator",
    "password_hash_of",
    "session_by_reference",
    "set_organisation_matrix",
    "set_password_hash",
    "set_suspended",
    "team_organisation",
]
