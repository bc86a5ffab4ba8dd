"""Errors of identity.

IdentityError
 ├── OrganisationNotFound
 └── AccountExists
"""

from coffre.errors import CoffreError


class IdentityError(CoffreError):
    """An organisation or account operation failed."""


class OrganisationNotFound(IdentityError):
    """No organisation has that id."""


class AccountExists(IdentityError):
    """An account with that username already exists."""
