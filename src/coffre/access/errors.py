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

    def __init__(self, rule: str, explanation: str) -> None:
        super().__init__(f"Access denied by rule {rule}: {explanation}.")
        self.rule = rule
        self.explanation = explanation
