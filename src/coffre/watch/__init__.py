"""Detection of misuse: Sigma rules compiled into an in-memory matcher.

`load_rules` compiles Sigma detection and correlation rules (parsed by pySigma) into a
`RuleSet`; a `Detector` evaluates it over a stream of events (mappings of field names to
values) and returns `Firing`s. `follow` reads the journal's entries as events (`events`:
the log source `product: coffre, service: journal`) from a stored cursor; `worker.run_once`
turns the firings into alerts (`alerts`) and applies their responses. See docs/watch.md
for what a rule may use and the fields of the journal's events.
"""

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
from coffre.watch.ruleset import RuleSet, load_rules
from coffre.watch.sigma import SUPPORTED_MODIFIERS

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
