"""A short, human-readable reason per recommended item, from the catalogue's titles and categories."""

from __future__ import annotations

from typing import Sequence

from ..catalogue.store import ItemStore
from ..engine.recommender import RecommenderModel


def title(row: dict | None, item_id: str) -> str:
    meta = (row or {}).get("metadata", {})
    title = meta.get("title") or meta.get("name")
    return str(title) if title else item_id


def reasons(model: RecommenderModel, items: ItemStore, tenant_id: str, history: Sequence[str],
            kept: list[tuple[str, float]], rows: dict, source: str) -> list[str]:
    """One short, human-readable reason per item (titles and categories from the catalogue)."""
    anchors = model.explain(history, [i for i, _ in kept], source)
    missing = [a for a in anchors if a and a not in rows]
    if missing:
        rows = {**rows, **items.get_many(tenant_id, missing)}
    out = []
    for (item, _), anchor in zip(kept, anchors):
        category = (rows.get(item) or {}).get("metadata", {}).get("category")
        if source in ("popular", "trending"):
            word = "popular" if source == "popular" else "trending"
            out.append(f"{word} in {category}" if category else f"{word} right now")
        elif anchor:
            verb = "similar to" if source == "content-based" else "because you liked"
            out.append(f"{verb} {title(rows.get(anchor), anchor)}")
        else:
            out.append("recommended for you")
    return out
