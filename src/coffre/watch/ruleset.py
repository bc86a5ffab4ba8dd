"""Load Sigma rules with pySigma and compile them into a rule set indexed by one field."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any

from sigma.collection import SigmaCollection
from sigma.correlations import (
    SigmaCorrelationCondition,
    SigmaCorrelationRule,
    SigmaCorrelationType,
)
from sigma.exceptions import SigmaError
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import FieldMappingTransformation
from sigma.rule import SigmaRule

from coffre.watch import nodes, sigma
from coffre.watch.errors import RuleError
from coffre.watch.routing import Router
from coffre.watch.rules import (
    Condition,
    CorrelationKind,
    CorrelationRule,
    DetectionRule,
    Rule,
    parse_response,
)
from coffre.watch.values import Event

_KINDS = {
    SigmaCorrelationType.EVENT_COUNT: CorrelationKind.EVENT_COUNT,
    SigmaCorrelationType.VALUE_COUNT: CorrelationKind.VALUE_COUNT,
    SigmaCorrelationType.TEMPORAL: CorrelationKind.TEMPORAL,
    SigmaCorrelationType.TEMPORAL_ORDERED: CorrelationKind.TEMPORAL_ORDERED,
}


class RuleSet:
    """Compiled rules. `detections` are evaluated against each event; `correlations` over
    windows of the detections' matches (see Detector)."""

    def __init__(self, rules: Sequence[Rule], index_field: str | None = None) -> None:
        self.rules = tuple(rules)
        self.detections = tuple(r for r in rules if isinstance(r, DetectionRule))
        self.correlations = tuple(r for r in rules if isinstance(r, CorrelationRule))
        self.router = _router(self.detections, index_field)

    @property
    def index_field(self) -> str | None:
        """The field events are routed by (None when no rule requires exact values)."""
        return self.router.field

    def candidates(self, event: Event) -> list[DetectionRule]:
        """The detection rules the event is routed to: those it may match."""
        return list(self.router.candidates(event))

    def matching(self, event: Event) -> list[DetectionRule]:
        """Every detection rule the event matches (reported or not), in rule order."""
        return list(self.router.select(event))

    def __getitem__(self, ref: str) -> Rule:
        """The rule with this name, id or title; raise KeyError if there is none."""
        for rule in self.rules:
            if ref in (rule.name, rule.id, rule.title):
                return rule
        raise KeyError(ref)

    def __len__(self) -> int:
        return len(self.rules)

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)


def _router(rules: Sequence[DetectionRule], field: str | None) -> Router[DetectionRule]:
    if field is None:  # the field that the most rules require exact values of
        counts = Counter(name for rule in rules for name in rule.required)
        field = min(counts, key=lambda name: (-counts[name], name)) if counts else None
    return Router(field, rules, rules)


# loading -------------------------------------------------------------------------------------


def load_rules(*texts: str, index_field: str | None = None) -> RuleSet:
    """Compile the Sigma rules in the YAML texts (each one or more documents; a correlation
    may name a rule of another text). Events are routed by `index_field`, or by the field
    the most rules require exact values of. Raise RuleError naming the first rule that is
    not valid Sigma or uses something the engine does not support."""
    try:
        collection = SigmaCollection.from_yaml("\n---\n".join(texts), collect_errors=True)
    except SigmaError as exc:
        raise RuleError(f"The rules cannot be read ({_reason(exc)}).") from None
    except Exception as exc:  # noqa: BLE001 (YAML errors have many types; one sentence)
        raise RuleError(f"The rules are not valid YAML ({type(exc).__name__}).") from None
    for parsed in collection.rules:
        if parsed.errors:
            raise RuleError(
                f"The rule {sigma.label(parsed)} is not valid Sigma ({_reason(parsed.errors[0])})."
            )
    if collection.errors:
        raise RuleError(f"The rules are not valid Sigma ({_reason(collection.errors[0])}).")
    taxonomy = _journal_taxonomy()
    for parsed in collection.rules:
        taxonomy.apply(parsed)
    silenced = {
        id(reference.rule)
        for parsed in collection.rules
        if isinstance(parsed, SigmaCorrelationRule) and not parsed.generate
        for reference in parsed.referenced_rules
    }
    compiled: dict[int, Rule] = {}
    for parsed in collection.rules:  # pySigma puts every rule after the rules it refers to
        reported = id(parsed) not in silenced
        if isinstance(parsed, SigmaRule):
            compiled[id(parsed)] = _detection(parsed, reported)
        elif isinstance(parsed, SigmaCorrelationRule):
            compiled[id(parsed)] = _correlation(parsed, reported, compiled)
        else:  # pragma: no cover - a collection holds only these two
            raise RuleError(f"The rule {sigma.label(parsed)} is of an unknown kind.")
    return RuleSet(list(compiled.values()), index_field)


# The Elastic Common Schema's names of the journal's fields, which rules written for audit
# and cloud logs use: a rule may name a field either way (docs/watch.md, "Taxonomy").
ECS_FIELDS = {
    "event.action": "action",
    "event.module": "module",
    "event.outcome": "outcome",
    "user.id": "actor_id",
    "source.ip": "source_ip",
    "client.ip": "source_ip",
    "organization.id": "organisation_id",
}


def _journal_taxonomy() -> ProcessingPipeline:
    """pySigma's field mapping from ECS_FIELDS to the journal's own names (a pipeline keeps
    what it applied, so each load takes a new one)."""
    mapping = FieldMappingTransformation(dict(ECS_FIELDS))
    return ProcessingPipeline(
        name="Coffre journal fields", items=[ProcessingItem(mapping, identifier="ecs-fields")]
    )


# The severity of the alerts of a rule that names no `level` (optional in Sigma), as
# pySigma's Elasticsearch backend gives such a rule: an alert always says how urgent it is.
DEFAULT_LEVEL = "low"


def _reason(error: Exception) -> str:
    return str(error).strip().rstrip(".")


def _common(parsed: SigmaRule | SigmaCorrelationRule, reported: bool) -> dict[str, Any]:
    label = sigma.label(parsed)
    try:
        response = parse_response(label, parsed.custom_attributes)
    except ValueError as exc:
        raise RuleError(str(exc)) from None
    return {
        "title": parsed.title,
        "id": str(parsed.id) if parsed.id is not None else None,
        "name": parsed.name,
        "level": parsed.level.name.lower() if parsed.level is not None else DEFAULT_LEVEL,
        "response": response,
        "reported": reported,
        "description": " ".join((parsed.description or "").split()) or None,
    }


# The one log source the engine reads: the journal's events, and other systems' audit
# logs once imported into the same fields (docs/watch.md).
PRODUCT, SERVICE = "coffre", "journal"


def _check_logsource(parsed: SigmaRule) -> None:
    """A detection rule must be written for PRODUCT (and SERVICE, if it names one, and no
    category): a rule for another log source would match the journal's events by chance."""
    source = parsed.logsource
    named = {"category": source.category, "product": source.product, "service": source.service}
    product, service = (source.product or "").lower(), (source.service or "").lower()
    if source.category is None and product == PRODUCT and service in ("", SERVICE):
        return
    described = ", ".join(f"{key}: {value}" for key, value in named.items() if value)
    raise RuleError(
        f"The rule {sigma.label(parsed)} is written for the log source {described or 'none'}; "
        f"Coffre's detection engine reads the log source product: {PRODUCT}, "
        f"service: {SERVICE}."
    )


def _detection(parsed: SigmaRule, reported: bool) -> DetectionRule:
    _check_logsource(parsed)
    node = sigma.compile_detection(parsed)
    try:
        predicate = nodes.closure(node)
    except (RecursionError, SyntaxError):
        raise RuleError(f"The rule {sigma.label(parsed)} is nested too deeply.") from None
    return DetectionRule(
        **_common(parsed, reported),
        predicate=predicate,
        required=nodes.required(node),
        node=node,
    )


def _correlation(
    parsed: SigmaCorrelationRule, reported: bool, compiled: Mapping[int, Rule]
) -> CorrelationRule:
    label = sigma.label(parsed)
    kind = _KINDS.get(parsed.type)
    if kind is None:
        raise RuleError(
            f"The rule {label} is a {parsed.type.name.lower()} correlation, which the engine "
            "does not support."
        )
    condition = parsed.condition
    if not isinstance(condition, SigmaCorrelationCondition):
        raise RuleError(
            f"The rule {label} has an extended correlation condition, which the engine does "
            "not support."
        )
    op = condition.op.name.lower()
    if op not in ("gt", "gte", "lt", "lte", "eq"):
        raise RuleError(
            f"The rule {label} has the correlation condition '{op}', which the engine does "
            "not support."
        )
    fields: tuple[str, ...] = ()
    if kind is CorrelationKind.VALUE_COUNT:
        ref = condition.fieldref
        fields = (ref,) if isinstance(ref, str) else tuple(ref or ())
    missing = [ref.reference for ref in parsed.referenced_rules if id(ref.rule) not in compiled]
    if missing:
        raise RuleError(f"The rule {label} refers to '{missing[0]}' in a cycle of correlations.")
    rules = tuple(compiled[id(reference.rule)] for reference in parsed.referenced_rules)
    group_by = tuple(parsed.group_by or ())
    return CorrelationRule(
        **_common(parsed, reported),
        kind=kind,
        rules=rules,
        group_by=group_by,
        timespan=timedelta(seconds=parsed.timespan.seconds),
        condition=Condition(op, condition.count, fields),
        group_fields=tuple(
            _group_fields(parsed, reference.rule, group_by) for reference in parsed.referenced_rules
        ),
    )


def _group_fields(
    parsed: SigmaCorrelationRule, referenced: Any, group_by: tuple[str, ...]
) -> tuple[str, ...]:
    """The group-by names, each replaced by its alias's field for events of `referenced`."""
    fields = []
    for name in group_by:
        alias = parsed.aliases.aliases.get(name)
        field = name
        if alias is not None:
            for reference, aliased in alias.mapping.items():  # named by the rule's name or id
                if reference.reference in (referenced.name, str(referenced.id)):
                    field = aliased
        fields.append(field)
    return tuple(fields)
