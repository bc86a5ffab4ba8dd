"""Errors of the detection engine.

WatchError
 ├── RuleError      a rule is not valid Sigma, or uses something the engine does not support
 ├── AlertNotFound  no alert has this id
 ├── AlertClosed    a closed alert no longer changes
 └── WatchBusy      another process follows the same cursor
"""

from coffre.errors import CoffreError


class WatchError(CoffreError):
    """The detection engine cannot go on: an event it was given cannot be evaluated."""


class RuleError(WatchError):
    """A rule cannot be compiled; the message names the rule and what is wrong with it."""


class AlertNotFound(WatchError):
    """No alert has this id."""


class AlertClosed(WatchError):
    """The alert is closed: its state no longer changes."""


class WatchBusy(WatchError):
    """Another process holds the cursor: two followers would each see part of the events,
    and a pattern split between them would go unnoticed."""
