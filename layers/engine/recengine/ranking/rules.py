"""Filter rules over item metadata, with conditions and values taken from the request's segments
and attributes. Pure functions: the recommend service applies them to catalogue rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

_MISSING = object()


@dataclass(frozen=True)
class Condition:
    """When a rule applies: the request is in any of `segments`, and/or an attribute has a value."""

    segments: Sequence[str] | None = None
    attribute: str | None = None
    equals: Any = None


@dataclass(frozen=True)
class Rule:
    """`field op value` on item metadata; the operand may come from the request (`value_from`:
    `segments` or `attributes.<name>`), and `when` may restrict the rule to some requests."""

    field: str
    op: str  # in, not_in, eq, ne, lt, lte, gt, gte, between, exists, missing
    value: Any = None
    value_from: str | None = None
    when: Condition | None = None


@dataclass(frozen=True)
class CompiledRule:
    """A rule whose condition held for this request, with its operand resolved."""

    field: str
    op: str
    value: Any
    label: str  # how debug output names it, e.g. "category in ['books']"

    def passes(self, metadata: Mapping[str, Any]) -> bool:
        actual = _lookup(metadata, self.field)
        if self.op == "exists":
            return actual is not _MISSING and actual is not None
        if self.op == "missing":
            return actual is _MISSING or actual is None
        if actual is _MISSING or actual is None:
            return self.op in ("not_in", "ne")  # an item without the field is not excluded by value
        values = actual if isinstance(actual, (list, tuple, set)) else [actual]
        if self.op in ("in", "eq"):
            wanted = self.value if isinstance(self.value, list) else [self.value]
            return any(_same(v, w) for v in values for w in wanted)
        if self.op in ("not_in", "ne"):
            unwanted = self.value if isinstance(self.value, list) else [self.value]
            return not any(_same(v, w) for v in values for w in unwanted)
        number = _number(actual)
        if number is None:
            return False
        if self.op == "between":
            low, high = (_number(v) for v in self.value)
            return low is not None and high is not None and low <= number <= high
        bound = _number(self.value)
        if bound is None:
            return False
        return {"lt": number < bound, "lte": number <= bound, "gt": number > bound, "gte": number >= bound}[self.op]


def _lookup(metadata: Mapping[str, Any], field: str) -> Any:
    """`a.b` reads nested metadata; `category` reads the top level."""
    value: Any = metadata
    for part in field.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _same(a: Any, b: Any) -> bool:
    """Equality that matches 5 with 5.0 and "5", and strings case-insensitively."""
    if isinstance(a, str) and isinstance(b, str):
        return a.casefold() == b.casefold()
    na, nb = _number(a), _number(b)
    if na is not None and nb is not None:
        return na == nb
    return str(a).casefold() == str(b).casefold()


def _resolve(ref: str, segments: Sequence[str], attributes: Mapping[str, Any]) -> Any:
    if ref == "segments":
        return list(segments)
    value = _lookup(attributes, ref.removeprefix("attributes."))
    return None if value is _MISSING else value


def _condition_holds(rule: Rule, segments: Sequence[str], attributes: Mapping[str, Any]) -> bool:
    when = rule.when
    if when is None:
        return True
    if when.segments is not None and not set(when.segments) & set(segments):
        return False
    if when.attribute is not None:
        actual = _lookup(attributes, when.attribute)
        if actual is _MISSING:
            return False
        if when.equals is not None:
            wanted = when.equals if isinstance(when.equals, list) else [when.equals]
            return any(_same(actual, w) for w in wanted)
    return True


def compile_rules(rules: Iterable[Rule], segments: Sequence[str] | None,
                  attributes: Mapping[str, Any] | None) -> tuple[list[CompiledRule], list[str]]:
    """The rules that apply to this request, and notes on those skipped (an attribute a rule
    reads is absent: the rule cannot be evaluated, so it is not applied, and the caller is told)."""
    segments, attributes = list(segments or []), dict(attributes or {})
    out, notes = [], []
    for rule in rules:
        if not _condition_holds(rule, segments, attributes):
            continue
        value = rule.value
        if rule.value_from is not None:
            value = _resolve(rule.value_from, segments, attributes)
            if value is None:
                notes.append(f"{rule.field} {rule.op} {rule.value_from}: {rule.value_from} not given")
                continue
        if rule.op == "between" and not (isinstance(value, list) and len(value) == 2):
            notes.append(f"{rule.field} between {rule.value_from}: needs [low, high]")
            continue
        shown = value if rule.value_from is None else f"{rule.value_from}={value!r}"
        label = f"{rule.field} {rule.op}" + ("" if rule.op in ("exists", "missing") else f" {shown!r}"
                                             if rule.value_from is None else f" {shown}")
        out.append(CompiledRule(rule.field, rule.op, value, label))
    return out, notes


def first_failed(rules: Sequence[CompiledRule], metadata: Mapping[str, Any]) -> CompiledRule | None:
    for rule in rules:
        if not rule.passes(metadata):
            return rule
    return None
