"""Errors of identity.

IdentityError
 ├── OrganisationNotFound
 ├── AccountNotFound
 ├── AccountExists
 └── PasskeyError
"""

from coffre.errors import CoffreError


class IdentityError(CoffreError):
    """An organisation or account operation failed."""


class OrganisationNotFound(IdentityError):
    """No organisation has that id."""


class AccountExists(IdentityError):
    """An account with that username already exists."""


class AccountNotFound(IdentityError):
    """No account has that username or id."""


class PasskeyError(IdentityError):
    """A passkey could not be registered, used or removed."""
