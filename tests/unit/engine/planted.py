"""Planted-taste data for engine tests: users who each like one block of items, so that what a
model should recommend is known in advance."""

from __future__ import annotations

import numpy as np

from recengine.engine.training import TrainingData


def planted_blocks(n_users=120, n_items=60, blocks=3, per_user=12, seed=1, skip=(), days=1.0) -> TrainingData:
    """Users of block b interact only with items of block b: structure a model must recover.
    Items in `skip` get no interactions (cold items)."""
    rng = np.random.default_rng(seed)
    users, items = [], []
    size = n_items // blocks
    for u in range(n_users):
        b = u % blocks
        for i in rng.choice(size, per_user, replace=False):
            if f"i{b * size + i}" not in skip:
                users.append(f"u{u}")
                items.append(f"i{b * size + i}")
    n = len(users)
    return TrainingData(users, items, np.ones(n), np.linspace(1.7e9, 1.7e9 + days * 86400, n))


def block_of(item: str, n_items=60, blocks=3) -> int:
    return int(item[1:]) // (n_items // blocks)
