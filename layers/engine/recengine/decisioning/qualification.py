"""Stored qualification rules evaluated for one request: which offers qualify, and why the others
do not. Conditions are written in the request rule language (ranking/rules.py) and read one document
per offer: the offer's fields at the top level, `segments`, `attributes`, and `propensity` (the
request's `attributes.propensityScores` for the offer id, else for its category). Pure functions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from ..ranking.rules import CompiledRule, compile_rules, first_failed
from .model import QualificationRule

PROPENSITY_SCORES = "propensityScores"


@dataclass(frozen=True)
class Qualification:
    """The outcome for a set of offers: who qualified, each excluded offer's reason, and notes on
    conditions that could not be evaluated for this request (an absent `value_from`)."""

    admitted: list[str]
    excluded: dict[str, str]
    notes: list[str]


def propensity(attributes: Mapping[str, Any], offer_id: str, category: Any = None) -> float | None:
    """The request's propensity for an offer: `propensityScores[offer_id]`, else its category's."""
    scores = attributes.get(PROPENSITY_SCORES)
    if type(scores) is not dict and not isinstance(scores, Mapping):  # the exact type first: the ABC check is slow
        return None
    for key in (offer_id, category):
        value = scores.get(key) if isinstance(key, str) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def offer_document(offer_id: str, metadata: Mapping[str, Any], segments: Sequence[str],
                   attributes: Mapping[str, Any], category_field: str = "category") -> dict[str, Any]:
    """What a condition reads for one offer; the request's names win over item fields of the same name.
    `segments` and `attributes` are shared by every offer's document, not copied: conditions only read."""
    return {**metadata, "id": offer_id, "segments": segments, "attributes": attributes,
            "propensity": propensity(attributes, offer_id, metadata.get(category_field))}


def targets(rule: QualificationRule, offer_id: str, metadata: Mapping[str, Any],
            category_field: str = "category") -> bool:
    if rule.target.everything or offer_id in rule.target.offer_ids:
        return True
    category = metadata.get(category_field)
    values = category if isinstance(category, (list, tuple)) else [category]
    wanted = {c.casefold() for c in rule.target.categories}
    return any(isinstance(v, str) and v.casefold() in wanted for v in values)


def qualify(rules: Iterable[QualificationRule], offers: Mapping[str, Mapping[str, Any]],
            segments: Sequence[str] | None = None, attributes: Mapping[str, Any] | None = None,
            category_field: str = "category") -> Qualification:
    """First match wins, highest priority first (then rule id): the first enabled rule that targets
    an offer and whose conditions all hold decides (include admits, exclude excludes). An offer no
    rule decided is admitted unless an include rule targets it: include rules are qualifications,
    so an offer they name must meet one of them. A rule applies to a request only when every
    condition's `when` holds and every `value_from` is given (else it is skipped, with a note)."""
    segments, attributes = list(segments or []), dict(attributes or {})
    ordered = sorted((r for r in rules if r.enabled), key=lambda r: (-r.priority, r.rule_id))
    compiled: list[tuple[QualificationRule, list[CompiledRule]]] = []
    notes: list[str] = []
    for rule in ordered:
        conditions, skipped = compile_rules(rule.conditions, segments, attributes)
        notes += [f"rule {rule.rule_id}: {note}" for note in skipped]
        if len(conditions) == len(rule.conditions):  # a `when` that did not hold: not this request's rule
            compiled.append((rule, conditions))
    admitted, excluded = [], {}
    for offer_id, metadata in offers.items():
        document = offer_document(offer_id, metadata, segments, attributes, category_field)
        decided, needs = None, None
        for rule, conditions in compiled:
            if not targets(rule, offer_id, metadata, category_field):
                continue
            failed = first_failed(conditions, document)
            if failed is None:
                decided = rule
                break
            if rule.effect == "include" and needs is None:
                needs = (rule, failed)
        if decided is not None and decided.effect == "exclude":
            excluded[offer_id] = f"excluded by rule {decided.rule_id} ({decided.name})"
        elif decided is None and needs is not None:
            rule, failed = needs
            excluded[offer_id] = f"not qualified by rule {rule.rule_id} ({rule.name}): {failed.label} failed"
        else:
            admitted.append(offer_id)
    return Qualification(admitted, excluded, notes)
