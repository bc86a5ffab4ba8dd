"""Detection of misuse: Sigma rules compiled into an in-memory matcher.

`load_rules` compiles Sigma detection and correlation rules (parsed by pySigma) into a
`RuleSet`; a `Detector` evaluates it over a stream of events (mappings of field names to
values) and returns `Firing`s. `follow` reads the journal's entries as events (`events`:
the log source `product: coffre, service: journal`) from a stored cursor; `worker.run_once`
turns the firings into alerts (`alerts`) and applies their responses. See docs/watch.md
for what a rule may use and the fields of the journal's events.
"""

import importlib
from typing import TYPE_CHECKING, Any

from coffre.watch.alerts import (
    NOTE_LIMIT,
    Alert,
    AlertNote,
    AlertState,
    alert_notes,
    change_alert,
    get_alert,
    list_alerts,
)
from coffre.watch.catalogue import shipped_rules
from coffre.watch.detector import Detector, Firing
from coffre.watch.errors import AlertClosed, AlertNotFound, RuleError, WatchBusy, WatchError
from coffre.watch.rules import (
    Condition,
    CorrelationKind,
    CorrelationRule,
    DetectionRule,
    Response,
    Rule,
)

if TYPE_CHECKING:
    from coffre.watch.ruleset import RuleSet, load_rules
    from coffre.watch.sigma import SUPPORTED_MODIFIERS

# Loading rules needs pySigma, which takes a fifth of a second or more to import: these
# names are imported when first used, so that a command that loads no rule does not pay it.
_ON_FIRST_USE = {
    "RuleSet": "coffre.watch.ruleset",
    "load_rules": "coffre.watch.ruleset",
    "SUPPORTED_MODIFIERS": "coffre.watch.sigma",
}


def __getattr__(name: str) -> Any:
    module = _ON_FIRST_USE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "NOTE_LIMIT",
    "SUPPORTED_MODIFIERS",
    "Alert",
    "AlertClosed",
    "AlertNotFound",
    "AlertNote",
    "AlertState",
    "Condition",
    "CorrelationKind",
    "CorrelationRule",
    "DetectionRule",
    "Detector",
    "Firing",
    "Response",
    "Rule",
    "RuleError",
    "RuleSet",
    "WatchBusy",
    "WatchError",
    "alert_notes",
    "change_alert",
    "get_alert",
    "list_alerts",
    "load_rules",
    "shipped_rules",
]
