"""Errors of identity.

IdentityError
 ├── OrganisationNotFound
 ├── AccountNotFound
 ├── AccountExists
 ├── PasskeyError
 ├── InvalidScope
 └── ClientError
      ├── ClientNotFound
      ├── ClientRefused
      ├── TokenRefused
      └── CeilingReached
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


class InvalidScope(IdentityError):
    """A scope is malformed, unsupported, or broader than what may be given."""

    exit_code = 2


class ClientError(IdentityError):
    """A machine client or a token could not be registered, used or changed."""


class ClientNotFound(ClientError):
    """No client has that id."""


class ClientRefused(ClientError):
    """The token endpoint refused a client: `rule` names why, for the journal; `error` is
    the OAuth error code (invalid_client, invalid_scope); `why` what the journal may say
    (the message, unless it quotes what the client sent)."""

    exit_code = 3

    def __init__(
        self,
        message: str,
        rule: str,
        client_id: str | None,
        error: str = "invalid_client",
        why: str | None = None,
    ) -> None:
        super().__init__(message)
        self.rule = rule
        self.client_id = client_id
        self.error = error
        self.why = why or message


class TokenRefused(ClientError):
    """A bearer token is unknown, expired, revoked or suspended, or so is its client or
    account; `rule` names why."""

    exit_code = 4

    def __init__(self, message: str, rule: str) -> None:
        super().__init__(message)
        self.rule = rule


class CeilingReached(ClientError):
    """A client's records per hour or per day would go past its ceiling; nothing was
    counted. `first` says whether it is the first refusal of this hour."""

    exit_code = 3

    def __init__(self, message: str, client_id: str, period: str, *, first: bool) -> None:
        super().__init__(message)
        self.client_id = client_id
        self.period = period  # "hour" or "day"
        self.first = first
