"""Generated demo data with real structure: users with tastes over categories, power-law item
popularity, and a mix of interaction types. Deterministic for a given seed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CATEGORIES = ("books", "music", "games", "outdoor", "kitchen", "fashion", "toys", "garden")
ADJECTIVES = ("Classic", "Modern", "Compact", "Deluxe", "Essential", "Vintage", "Smart", "Eco")
TYPES = ("view", "click", "like", "add_to_cart", "purchase")
TYPE_P = (0.55, 0.25, 0.1, 0.05, 0.05)


@dataclass(frozen=True)
class DemoData:
    items: list[dict]
    interactions: list[dict]
    user_tastes: dict[str, tuple[str, ...]]


def generate(n_users: int = 300, n_items: int = 400, events_per_user: int = 40, seed: int = 7,
             start_ts: float = 1_760_000_000.0) -> DemoData:
    rng = np.random.default_rng(seed)
    items: list[dict] = []
    by_cat: dict[str, list[str]] = {c: [] for c in CATEGORIES}
    for i in range(n_items):
        cat = CATEGORIES[i % len(CATEGORIES)]
        item_id = f"item-{i:05d}"
        by_cat[cat].append(item_id)
        items.append({
            "id": item_id,
            "title": f"{ADJECTIVES[int(rng.integers(len(ADJECTIVES)))]} {cat[:-1] if cat.endswith('s') else cat} #{i}",
            "category": cat,
            "tags": sorted({cat, ADJECTIVES[i % len(ADJECTIVES)].lower()}),
            "price": round(float(rng.uniform(5, 200)), 2),
            "active": True,
        })
    interactions: list[dict] = []
    tastes: dict[str, tuple[str, ...]] = {}
    for u in range(n_users):
        user_id = f"user-{u:04d}"
        cats = tuple(rng.choice(CATEGORIES, size=int(rng.integers(1, 3)), replace=False).tolist())
        tastes[user_id] = cats
        n_events = max(3, int(rng.poisson(events_per_user)))
        for e in range(n_events):
            # 85% within the user's tastes, 15% anywhere; power-law within a category.
            cat = cats[int(rng.integers(len(cats)))] if rng.random() < 0.85 else CATEGORIES[int(rng.integers(len(CATEGORIES)))]
            pool = by_cat[cat]
            rank = min(int(rng.zipf(1.6)) - 1, len(pool) - 1)
            interactions.append({
                "user_id": user_id,
                "session_id": f"sess-{u:04d}-{e // 10}",
                "item_id": pool[rank],
                "type": TYPES[int(rng.choice(len(TYPES), p=TYPE_P))],
                "timestamp": start_ts + u * 17 + e * 3600.0,
                "event_id": f"demo-{u:04d}-{e:04d}",
            })
    return DemoData(items, interactions, tastes)
