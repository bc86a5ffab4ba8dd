"""Errors of access.

AccessError
 └── AccessDenied     the decision was deny; carries the rule, never patient data
"""

from coffre.errors import CoffreError


class AccessError(CoffreError):
    """An access decision could not be made or enforced."""


class AccessDenied(AccessError):
    """The operation is not allowed; the message names the rule that decided."""

    exit_code = 3

    def __init__(self, rule: str, explanation: str, *, disclosed: bool = True) -> None:
        message = f"Access denied by rule {rule}: {explanation}." if disclosed else "Not allowed."
        super().__init__(message)
        self.rule = rule
        self.explanation = explanation
        self.disclosed = disclosed
