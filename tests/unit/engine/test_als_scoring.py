"""The ALS scoring path's whole-catalogue top-k (best_k) returns what index.top_k returns."""

from __future__ import annotations

import numpy as np
import pytest

from recengine.engine.index import top_k
from recengine.engine.recommender import best_k


@pytest.mark.parametrize("seed", range(20))
def test_best_k_equals_top_k(seed):
    rng = np.random.default_rng(seed)
    size = int(rng.integers(1, 30_000))
    scores = rng.standard_normal(size).astype(rng.choice([np.float32, np.float64]))
    if seed % 4 == 1:  # excluded items, some whole blocks of them
        scores[rng.choice(size, size // 3, replace=False)] = -np.inf
        scores[: size // 5] = -np.inf
    if seed % 4 == 2:  # +inf and NaN are never returned
        scores[rng.choice(size, min(size, 5), replace=False)] = np.inf
        scores[rng.choice(size, min(size, 3), replace=False)] = np.nan
    if seed % 4 == 3:  # coarse scores: no ties among the k best
        scores = np.round(scores, 2) + np.arange(size) * 1e-9
    for k in (1, 10, 50):
        got, want = best_k(scores, k), top_k(scores, k)
        assert got.tolist() == want.tolist()


def test_best_k_when_fewer_finite_scores_than_k():
    scores = np.full(5000, -np.inf, dtype=np.float32)
    scores[[7, 4000, 12]] = [1.0, 3.0, 2.0]
    assert best_k(scores, 10).tolist() == [4000, 12, 7]
