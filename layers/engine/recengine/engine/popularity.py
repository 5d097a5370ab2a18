"""Time-decayed popularity: the fallback for unknown users and a ranking signal of its own."""

from __future__ import annotations

import numpy as np


def popularity_scores(item_idx: np.ndarray, weights: np.ndarray, timestamps: np.ndarray, n_items: int,
                      half_life_days: float = 30.0) -> np.ndarray:
    """Sums interaction weights per item, halving an event's worth every `half_life_days`."""
    if item_idx.size == 0:
        return np.zeros(n_items, dtype=np.float32)
    ts = np.asarray(timestamps, dtype=np.float64)
    age_days = (ts.max() - ts) / 86400.0
    decay = np.power(0.5, age_days / half_life_days)
    scores = np.bincount(item_idx, weights=np.asarray(weights, dtype=np.float64) * decay, minlength=n_items)
    top = scores.max()
    return (scores / top if top > 0 else scores).astype(np.float32)
