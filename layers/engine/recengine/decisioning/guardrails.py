"""Guardrails on one answer: at most N offers per category. Pure."""

from __future__ import annotations

from collections import Counter
from typing import Any, Mapping, Sequence, TypeVar

T = TypeVar("T")


def _categories(metadata: Mapping[str, Any], field: str) -> list[str]:
    value = metadata.get(field)
    values = value if isinstance(value, (list, tuple)) else [value]
    return [v.casefold() for v in values if isinstance(v, str)]


def cap_per_category(ranked: Sequence[str], items: Mapping[str, Mapping[str, Any]], max_per_category: int | None,
                     category_field: str = "category") -> tuple[list[str], dict[str, str]]:
    """The ranked ids, in order, keeping at most `max_per_category` of each category (an offer in
    several categories counts in each; one with none is never capped), and each dropped id's reason."""
    if max_per_category is None:
        return list(ranked), {}
    seen: Counter = Counter()
    kept, dropped = [], {}
    for offer in ranked:
        categories = _categories(items.get(offer) or {}, category_field)
        full = [c for c in categories if seen[c] >= max_per_category]
        if full:
            dropped[offer] = f"guardrail: at most {max_per_category} offers of category {full[0]!r} per answer"
            continue
        seen.update(categories)
        kept.append(offer)
    return kept, dropped
