"""Organisations, accounts and the actors that every decision and journal entry name."""

from coffre.identity.actors import Actor, ActorKind, Contract, OrganisationKind, local_operator
from coffre.identity.directory import (
    Account,
    actor_for,
    add_contract,
    contracts_in_force,
    create_care_team,
    find_account,
    list_accounts,
    set_organisation_matrix,
    team_organisation,
)
from coffre.identity.errors import (
    AccountExists,
    AccountNotFound,
    IdentityError,
    OrganisationNotFound,
)
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
    "actor_for",
    "add_contract",
    "contracts_in_force",
    "create_accounts",
    "create_care_team",
    "create_organisation",
    "find_account",
    "get_organisation",
    "hash_password",
    "list_accounts",
    "list_organisations",
    "local_operator",
    "set_organisation_matrix",
    "team_organisation",
]
