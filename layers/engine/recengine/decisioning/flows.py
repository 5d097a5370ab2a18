"""Decision flows, pure parts: which flow a request is routed to, and how a flow ranks its
qualified candidates (model score, propensity × business value, or priority) under its guardrails."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from .guardrails import cap_per_category
from .model import Flow, Route
from .qualification import propensity


@dataclass(frozen=True)
class Ranked:
    """One offer in a flow's answer: its rank score and what it was computed from."""

    offer_id: str
    score: float
    model_score: float
    propensity: float | None = None
    value: float | None = None
    priority: float | None = None


def _same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.casefold() == b.casefold()


def match_route(routes: Sequence[Route], channel: str | None, placement: str | None) -> Route | None:
    """The most specific routing rule for a request: channel and placement, then placement, then
    channel, then a catch-all (neither); among equals, the first listed."""
    best, best_rank = None, -1
    for route in routes:
        if route.channel is not None and not _same(route.channel, channel):
            continue
        if route.placement is not None and not _same(route.placement, placement):
            continue
        rank = 2 * (route.placement is not None) + (route.channel is not None)
        if rank > best_rank:
            best, best_rank = route, rank
    return best


def _number(value: Any, default: float | None) -> float | None:
    if isinstance(value, bool):
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def rank(flow: Flow, candidates_with_scores: Mapping[str, float], items_metadata: Mapping[str, Mapping[str, Any]],
         request_attributes: Mapping[str, Any] | None = None) -> list[Ranked]:
    """The flow's answer from qualified, unblocked candidates (id -> model score): ordered by its
    ranker, capped per category, cut at its limit. `propensity_value` is the request's propensity
    (propensityScores for the offer, else its category; the model score when neither is given) times
    the offer's business `value` (1 when it has none); `priority` orders by the offer's `priority`
    (higher first), then the model score. Ties go to the lower offer id, so answers are stable."""
    attributes = dict(request_attributes or {})
    scored = []
    for offer, model_score in candidates_with_scores.items():
        metadata = items_metadata.get(offer) or {}
        given = propensity(attributes, offer, metadata.get(flow.category_field))
        value = _number(metadata.get("value"), None)
        priority = _number(metadata.get("priority"), None)
        if flow.ranker == "propensity_value":
            p = given if given is not None else float(model_score)
            entry = Ranked(offer, p * (value if value is not None else 1.0), float(model_score), given, value, priority)
            key = (-entry.score, offer)
        elif flow.ranker == "priority":
            entry = Ranked(offer, priority or 0.0, float(model_score), given, value, priority)
            key = (-(priority or 0.0), -float(model_score), offer)
        else:
            entry = Ranked(offer, float(model_score), float(model_score), given, value, priority)
            key = (-entry.score, offer)
        scored.append((key, entry))
    ordered = [entry for _, entry in sorted(scored, key=lambda pair: pair[0])]
    kept, _ = cap_per_category([e.offer_id for e in ordered], items_metadata, flow.max_per_category,
                               flow.category_field)
    by_id = {e.offer_id: e for e in ordered}
    return [by_id[offer] for offer in kept[:flow.limit]]
