"""Loading rule sets: what a rule carries, what is refused, and how events are routed."""

from __future__ import annotations

import pytest

from coffre.watch import (
    CorrelationKind,
    CorrelationRule,
    DetectionRule,
    Response,
    RuleError,
    load_rules,
)
from coffre.watch.ruleset import DEFAULT_LEVEL

LOGSOURCE = "logsource: {product: coffre, service: journal}"


def detection(name: str, action: str, extra: str = "") -> str:
    return f"""
title: Rule {name}
name: {name}
{LOGSOURCE}
{extra}
detection:
  sel:
    action: {action}
  condition: sel
"""


def test_rule_carries_its_metadata_and_response() -> None:
    rules = load_rules(
        """
title: Break-the-glass
id: 6f1b3c1e-9a4d-4c8e-9b55-0c1d2e3f4a5b
name: break_glass
status: experimental
level: high
coffre:
  response: notify
"""
        + LOGSOURCE
        + """
detection:
  sel:
    action: access:break-the-glass:create
  condition: sel
"""
    )
    (rule,) = rules.detections
    assert rule.title == "Break-the-glass"
    assert rule.id == "6f1b3c1e-9a4d-4c8e-9b55-0c1d2e3f4a5b"
    assert rule.name == "break_glass" and rule.ref == "break_glass"
    assert rule.level == "high"
    assert rule.response is Response.NOTIFY
    assert rule.reported
    assert rules["break_glass"] is rule and rules["Break-the-glass"] is rule


@pytest.mark.parametrize("response", [r.value for r in Response])
def test_every_response_is_accepted(response: str) -> None:
    (rule,) = load_rules(detection("r", "x", f"coffre: {{response: {response}}}")).detections
    assert rule.response == response


@pytest.mark.parametrize(
    ("coffre", "says"),
    [
        ("{response: delete-everything}", "'delete-everything'"),
        ("{respond: notify}", "'respond'"),
        ("notify", "not a mapping"),
    ],
)
def test_malformed_response_is_refused(coffre: str, says: str) -> None:
    with pytest.raises(RuleError) as refused:
        load_rules(detection("odd", "x", f"coffre: {coffre}"))
    assert says in str(refused.value) and "'Rule odd' (odd)" in str(refused.value)


def test_a_rule_without_a_level_raises_low_alerts() -> None:
    rules = load_rules(
        detection("denied_read", "records:patient:read"),
        f"""
title: Probing
{LOGSOURCE}
correlation:
  type: event_count
  rules: denied_read
  group-by: [actor]
  timespan: 10m
  condition: {{gte: 5}}
""",
    )
    assert [rule.level for rule in rules.rules] == [DEFAULT_LEVEL, DEFAULT_LEVEL] == ["low"] * 2
    (kept,) = load_rules(detection("read", "records:patient:read", "level: critical")).detections
    assert kept.level == "critical"


def test_rule_without_response_has_none() -> None:
    (rule,) = load_rules(detection("plain", "x")).detections
    assert rule.response is None


def test_invalid_sigma_names_the_rule() -> None:
    with pytest.raises(RuleError, match=r"'No logsource'.*log source"):
        load_rules("title: No logsource\ndetection: {sel: {a: b}, condition: sel}\n")


@pytest.mark.parametrize(
    ("logsource", "described"),
    [
        ("{product: windows, service: security}", "product: windows, service: security"),
        (
            "{category: process_creation, product: coffre}",
            "category: process_creation, product: coffre",
        ),
        ("{product: coffre, service: webserver}", "product: coffre, service: webserver"),
        ("{service: journal}", "service: journal"),
    ],
)
def test_a_rule_for_another_log_source_is_refused(logsource: str, described: str) -> None:
    text = f"title: Elsewhere\nlogsource: {logsource}\ndetection: {{s: {{a: b}}, condition: s}}\n"
    with pytest.raises(RuleError) as refused:
        load_rules(text)
    assert refused.value.message == (
        f"The rule 'Elsewhere' is written for the log source {described}; Coffre's detection "
        "engine reads the log source product: coffre, service: journal."
    )


@pytest.mark.parametrize("logsource", ["{product: coffre}", "{product: Coffre, service: Journal}"])
def test_a_rule_for_the_journal_may_leave_out_the_service(logsource: str) -> None:
    text = f"title: Here\nlogsource: {logsource}\ndetection: {{s: {{a: b}}, condition: s}}\n"
    assert load_rules(text).detections[0].title == "Here"


def test_invalid_yaml_is_one_sentence() -> None:
    with pytest.raises(RuleError, match="not valid YAML"):
        load_rules("title: [unclosed\n")


def test_correlation_is_compiled_with_its_rules() -> None:
    rules = load_rules(
        detection("denied_read", "records:patient:read"),
        f"""
title: Scraping
{LOGSOURCE}
coffre: {{response: suspend-session}}
correlation:
  type: value_count
  rules: denied_read
  group-by: [actor, session]
  timespan: 10m
  condition: {{gte: 50, field: patients}}
""",
    )
    detection_rule, correlation = rules.rules
    assert isinstance(detection_rule, DetectionRule) and isinstance(correlation, CorrelationRule)
    assert correlation.kind is CorrelationKind.VALUE_COUNT
    assert correlation.rules == (detection_rule,)
    assert correlation.group_by == ("actor", "session")
    assert correlation.timespan.total_seconds() == 600
    assert (correlation.condition.op, correlation.condition.count) == ("gte", 50)
    assert correlation.condition.fields == ("patients",)
    assert correlation.condition.holds(50) and not correlation.condition.holds(49)
    assert correlation.fields_of(detection_rule) == ("actor", "session")
    assert correlation.response is Response.SUSPEND_SESSION
    assert not detection_rule.reported  # only the correlation reports, as Sigma's generate: false
    assert correlation.reported


def test_generate_reports_the_referenced_rules_too() -> None:
    rules = load_rules(
        detection("login_failed", "identity:session:login"),
        """
title: Many failures
correlation:
  type: event_count
  rules: login_failed
  group-by: actor
  timespan: 1m
  generate: true
  condition: {gte: 5}
""",
    )
    assert all(rule.reported for rule in rules.rules)


@pytest.mark.parametrize(
    ("correlation", "says"),
    [
        ("type: value_sum\n  condition: {gte: 5, field: n}", "value_sum"),
        ("type: temporal\n  condition: {neq: 1}", "'neq'"),
    ],
)
def test_unsupported_correlation_is_refused(correlation: str, says: str) -> None:
    with pytest.raises(RuleError) as refused:
        load_rules(
            detection("a", "x"),
            f"""
title: Odd correlation
correlation:
  {correlation}
  rules: a
  group-by: actor
  timespan: 1m
""",
        )
    assert says in str(refused.value) and "'Odd correlation'" in str(refused.value)


def test_extended_temporal_condition_is_refused() -> None:
    with pytest.raises(RuleError, match="extended correlation condition"):
        load_rules(
            detection("a", "x"),
            detection("b", "y"),
            """
title: Either
correlation:
  type: temporal
  rules: [a, b]
  group-by: actor
  timespan: 1m
  condition: a or b
""",
        )


def test_correlation_naming_an_unknown_rule_is_refused() -> None:
    with pytest.raises(RuleError, match="nowhere"):
        load_rules(
            """
title: Dangling
correlation:
  type: event_count
  rules: nowhere
  group-by: actor
  timespan: 1m
  condition: {gte: 2}
"""
        )


# routing -------------------------------------------------------------------------------------


def test_events_are_routed_by_the_field_most_rules_require() -> None:
    rules = load_rules(
        detection("read", "records:patient:read"),
        detection("export", "[records:patient:export, journal:log:export]"),
        detection("any_read", "records:*:read"),
        f"""
title: Denied anything
name: denied
{LOGSOURCE}
detection:
  sel: {{decision: deny}}
  condition: sel
""",
    )
    assert rules.index_field == "action"
    by_name = {rule.ref: rule for rule in rules.detections}
    routed = rules.candidates({"action": "RECORDS:PATIENT:READ"})
    assert [rule.ref for rule in routed] == ["read", "any_read", "denied"]
    routed = rules.candidates({"action": "journal:log:export"})
    assert [rule.ref for rule in routed] == ["export", "any_read", "denied"]
    assert [r.ref for r in rules.candidates({"decision": "deny"})] == ["any_read", "denied"]
    both = rules.candidates({"action": ["records:patient:read", "journal:log:export"]})
    assert [rule.ref for rule in both] == ["read", "export", "any_read", "denied"]
    assert rules.matching({"action": "records:patient:read", "decision": "deny"}) == [
        by_name["read"],
        by_name["any_read"],
        by_name["denied"],
    ]


def test_index_field_may_be_chosen() -> None:
    rules = load_rules(detection("read", "records:patient:read"), index_field="decision")
    assert rules.index_field == "decision"
    assert rules.matching({"action": "records:patient:read"}) == list(rules.detections)


def test_rule_that_requires_nothing_is_always_tried() -> None:
    rules = load_rules(
        detection("read", "records:patient:read"),
        f"""
title: Not a read
name: not_read
{LOGSOURCE}
detection:
  sel: {{action: records:patient:read}}
  condition: not sel
""",
    )
    assert [r.ref for r in rules.matching({"action": "identity:session:login"})] == ["not_read"]
    assert [r.ref for r in rules.matching({"action": "records:patient:read"})] == ["read"]
