"""fold_in against the implicit-ALS closed form, solved independently in float64: the serving
fast path (float32 product, float64 solve) must give the same user factor."""

from __future__ import annotations

import numpy as np
import pytest

from recengine.engine.als import ALSFactors, ALSParams, fold_in


def _closed_form(items: np.ndarray, reg: float, alpha: float, idx: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """argmin_x sum_j c_j (p_j - y_j.x)^2 + reg |x|^2 over every item, p_j = 1 on the history,
    c_j = 1 + alpha w_j there and 1 elsewhere: the normal equations, built item by item."""
    y = items.astype(np.float64)
    k = y.shape[1]
    conf = np.ones(y.shape[0])
    pref = np.zeros(y.shape[0])
    conf[idx] += alpha * weights
    pref[idx] = 1.0
    a = (y.T * conf) @ y + reg * np.eye(k)
    b = y.T @ (conf * pref)
    return np.linalg.solve(a, b)


@pytest.mark.parametrize("factors,history", [(8, 1), (16, 5), (64, 40), (64, 200)])
def test_fold_in_equals_the_closed_form(factors, history):
    rng = np.random.default_rng(factors + history)
    items = (rng.standard_normal((3000, factors)) * 0.3).astype(np.float32)
    params = ALSParams(factors=factors, regularization=5.0, alpha=2.0)
    gram = ALSFactors(np.zeros((1, factors), np.float32), items, params).gram()
    idx = np.sort(rng.choice(items.shape[0], history, replace=False))
    weights = rng.choice([1.0, 2.0, 4.0, 6.0, 8.0], history)
    x = fold_in(gram, items, idx, weights, params.alpha)
    expected = _closed_form(items, params.regularization, params.alpha, idx, weights)
    assert x.dtype == np.float32 and x.shape == (factors,)
    np.testing.assert_allclose(x, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
    # Same ranking of the catalogue as the exact factor.
    np.testing.assert_array_equal(np.argsort(-(items @ x))[:20], np.argsort(-(items.astype(np.float64) @ expected))[:20])


def test_fold_in_reads_only_the_history_rows_of_a_read_only_matrix():
    rng = np.random.default_rng(1)
    items = (rng.standard_normal((500, 16)) * 0.3).astype(np.float32)
    items.flags.writeable = False  # as a memory-mapped artefact
    gram = ALSFactors(np.zeros((1, 16), np.float32), items, ALSParams(factors=16)).gram()
    x = fold_in(gram, items, np.array([3, 7, 11]), np.array([1.0, 2.0, 1.0]), 2.0)
    np.testing.assert_allclose(x, _closed_form(items, 5.0, 2.0, np.array([3, 7, 11]), np.array([1.0, 2.0, 1.0])),
                               rtol=1e-4, atol=1e-6)


def test_fold_in_of_no_history_is_zero():
    items = np.ones((4, 3), np.float32)
    gram = ALSFactors(np.zeros((1, 3), np.float32), items, ALSParams(factors=3)).gram()
    assert fold_in(gram, items, np.zeros(0, np.int64), np.zeros(0), 2.0).tolist() == [0.0, 0.0, 0.0]
