"""The tree a rule's detection compiles to, and the closures it becomes.

Leaves are `Test`s (one test of the event, already a closure); `AllOf`, `AnyOf` and `Not`
combine them. Besides the predicate, the tree tells which exact values of which field an
event must hold for the rule to match at all, so a rule set can route events by that field.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from coffre.watch.values import Event, Predicate


@dataclass(frozen=True)
class Test:
    """One test of the event. `equals` holds the casefolded strings one of which the field
    must be equal to for the test to pass, when the test is exactly that."""

    field: str | None
    predicate: Predicate
    cost: int
    equals: frozenset[str] | None = None
    # How generated code writes the test inline: a template of an expression over the event
    # `e`, where {f} is the field name, {c} an operand and {s} a predicate for the values
    # the expression leaves to it; with the operand and that predicate.
    inline: tuple[str, Any, Predicate | None] | None = None
    # False when the test also reads other fields of the event (fieldref): it cannot be
    # answered from its own field's value alone (see `fixed`).
    alone: bool = True
    # For a test of the casefolded text of its field: the expression over that text `{h}`
    # (and the operand {c}), for generated code that casefolds the field once for the
    # several tests of it (see `selector`); what is not text is left to `inline`'s predicate.
    folded: str | None = None


@dataclass(frozen=True)
class AllOf:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    part: Node


Node = Test | AllOf | AnyOf | Not


def closure(node: Node) -> Predicate:
    """The predicate a node tree stands for: one generated function, so that evaluating a
    rule costs one call, not one per node. Raise RecursionError or SyntaxError for a tree
    nested too deeply for Python to compile."""
    code = _Code()
    return code.function(f"def predicate(e):\n    return {code.expression(node)}\n")  # type: ignore[no-any-return]


def selector(entries: Sequence[tuple[Any, Node | None]]) -> Callable[[Event], tuple[Any, ...]]:
    """One generated function returning, for an event, the items of `entries` (in order)
    whose node the event passes (None: always). Evaluating a route of many rules so costs one
    call."""
    code = _Code()
    lines = ["def select(e):", "    found = ()"]
    lines += code.hoist([node for _, node in entries if node is not None])
    for item, node in entries:
        add = f"found += {code.constant((item,))}"  # () + (item,) is that very tuple
        if node is None:
            lines.append(f"    {add}")
        else:
            lines += [f"    if {code.expression(node)}:", f"        {add}"]
    lines.append("    return found\n")
    return code.function("\n".join(lines))  # type: ignore[no-any-return]


class _Code:
    """Source of a generated function and the names it uses. Operands and predicates are
    passed in its globals; only field names are written into the source, as repr()."""

    def __init__(self) -> None:
        self.names: dict[str, Any] = {"_str": str, "_num": (int, float)}
        self.folded: dict[str, str] = {}  # field → the local holding its casefolded text

    def hoist(self, nodes: Sequence[Node]) -> list[str]:
        """The lines casefolding, once, each field that several tests of `nodes` compare
        casefolded (None when the field holds no text); their tests then read that."""
        counts: dict[str, int] = {}
        for test in _tests(nodes):
            if test.folded is not None and test.field is not None:
                counts[test.field] = counts.get(test.field, 0) + 1
        lines = []
        for field, count in counts.items():
            if count > 1:
                name = self.folded[field] = f"_h{len(self.folded)}"
                lines.append(
                    f"    {name} = _v.casefold() if (_v := e.get({field!r})).__class__ is _str"
                    " else None"
                )
        return lines

    def constant(self, value: Any) -> str:
        name = f"_k{len(self.names)}"
        self.names[name] = value
        return name

    def expression(self, node: Node) -> str:
        if isinstance(node, Test):
            name = self.folded.get(node.field or "")
            if name is not None and node.folded is not None and node.inline is not None:
                _, operand, slow = node.inline
                test = node.folded.format(h=name, c=self.constant(operand))
                return f"({test} if {name} is not None else {self.constant(slow)}(e))"
            if node.inline is not None and node.field is not None:
                template, operand, slow = node.inline
                return template.format(
                    f=repr(node.field), c=self.constant(operand), s=self.constant(slow)
                )
            return f"{self.constant(node.predicate)}(e)"
        if isinstance(node, Not):
            return f"(not {self.expression(node.part)})"
        parts = [self.expression(part) for part in sorted(node.parts, key=cost)]
        return "(" + (" and " if isinstance(node, AllOf) else " or ").join(parts) + ")"

    def function(self, source: str) -> Any:
        exec(compile(source, "<sigma rules>", "exec"), self.names)  # noqa: S102 (see _Code)
        return self.names[source[4 : source.index("(")]]


def _tests(nodes: Sequence[Node]) -> list[Test]:
    found: list[Test] = []
    pending = list(nodes)
    while pending:
        node = pending.pop()
        if isinstance(node, Test):
            found.append(node)
        elif isinstance(node, Not):
            pending.append(node.part)
        else:
            pending.extend(node.parts)
    return found


def cost(node: Node) -> int:
    """A rough cost of evaluating a node, to put cheap tests first."""
    if isinstance(node, Test):
        return node.cost
    if isinstance(node, Not):
        return cost(node.part)
    return sum(cost(part) for part in node.parts) + 1


def required(node: Node) -> dict[str, frozenset[str]]:
    """For each field the node constrains to exact values: the casefolded values one of
    which the field must hold (as a string) for the node to pass."""
    if isinstance(node, Test):
        if node.field is not None and node.equals is not None:
            return {node.field: node.equals}
        return {}
    if isinstance(node, Not):
        return {}
    found = [required(part) for part in node.parts]
    if isinstance(node, AllOf):
        merged: dict[str, frozenset[str]] = {}
        for constraint in found:
            for field, allowed in constraint.items():
                merged[field] = merged[field] & allowed if field in merged else allowed
        return merged
    common = set(found[0]).intersection(*found[1:]) if found else set()
    return {field: frozenset().union(*(c[field] for c in found)) for field in common}


def routed(node: Node, field: str, allowed: frozenset[str]) -> Node | None:
    """The node for the events routed to it because `field` holds one of `allowed`: the tests
    such a value passes anyway are left out (None when nothing is left to test)."""
    if isinstance(node, Test):
        if node.field == field and node.equals is not None and allowed <= node.equals:
            return None
        return node
    if isinstance(node, AllOf):
        kept = [part for part in (routed(p, field, allowed) for p in node.parts) if part]
        if not kept:
            return None
        return kept[0] if len(kept) == 1 else AllOf(tuple(kept))
    return node


def fixed(node: Node, field: str, value: str) -> Node | bool:
    """The node for the events whose `field` holds the text `value`: the tests of that field
    that read nothing else are answered, and what is left is simplified (True or False when
    nothing is left to test)."""
    if isinstance(node, Test):
        if node.field == field and node.alone:
            return bool(node.predicate({field: value}))
        return node
    if isinstance(node, Not):
        part = fixed(node.part, field, value)
        return (not part) if isinstance(part, bool) else Not(part)
    both = isinstance(node, AllOf)  # an AND is decided by a False part, an OR by a True one
    kept: list[Node] = []
    for part in node.parts:
        left = fixed(part, field, value)
        if left is (not both):
            return not both
        if not isinstance(left, bool):
            kept.append(left)
    if not kept:
        return both
    return kept[0] if len(kept) == 1 else (AllOf if both else AnyOf)(tuple(kept))


def always(event: Event) -> bool:
    """The predicate of a rule with nothing left to test."""
    return True
