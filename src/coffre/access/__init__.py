"""The access gate: every operation on patient data asks `decide` first."""

from coffre.access.errors import AccessDenied, AccessError
from coffre.access.policy import Action, Decision, Purpose, decide

__all__ = ["AccessDenied", "AccessError", "Action", "Decision", "Purpose", "decide"]
