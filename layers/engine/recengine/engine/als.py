"""Implicit-feedback matrix factorisation (Hu, Koren & Volinsky 2008) trained by alternating
least squares, each half-step solved for all rows at once by a few conjugate-gradient steps.

Vectorising the CG across rows keeps the inner loops in numpy: one step costs O(nnz * factors),
which is what makes a million interactions train in seconds on one Lambda.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from .errors import EmptyTrainingSetError
from .sparse import CSR, segment_sum

# Rows are processed in blocks so that the gathered (nnz, factors) buffer stays bounded.
_BLOCK_NNZ = 1_000_000

Progress = Callable[[dict], None]


@dataclass(frozen=True)
class ALSParams:
    factors: int = 64
    regularization: float = 5.0  # measured on the demo data; issue 3 tunes it per tenant
    alpha: float = 2.0  # confidence = 1 + alpha * weight
    iterations: int = 12
    cg_steps: int = 3
    seed: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class ALSFactors:
    user_factors: np.ndarray  # (n_users, factors) float32
    item_factors: np.ndarray  # (n_items, factors) float32
    params: ALSParams

    def gram(self) -> np.ndarray:
        """Y^T Y + lambda I: the constant part of every fold-in system, stored with the model."""
        y = self.item_factors.astype(np.float64)
        k = y.shape[1]
        return (y.T @ y + self.params.regularization * np.eye(k)).astype(np.float64)


def _row_blocks(indptr: np.ndarray) -> list[tuple[int, int]]:
    blocks, start, n = [], 0, indptr.size - 1
    while start < n:
        target = indptr[start] + _BLOCK_NNZ
        end = int(np.searchsorted(indptr, target, side="right")) - 1
        end = max(end, start + 1)
        blocks.append((start, min(end, n)))
        start = end
    return blocks


def _solve_half(matrix: CSR, fixed: np.ndarray, current: np.ndarray, params: ALSParams) -> np.ndarray:
    """Updates the factors of every row of `matrix` given the other side's `fixed` factors."""
    reg = params.regularization
    gram = fixed.T @ fixed + reg * np.eye(fixed.shape[1], dtype=fixed.dtype)
    out = current.copy()
    for lo, hi in _row_blocks(matrix.indptr):
        p_lo, p_hi = matrix.indptr[lo], matrix.indptr[hi]
        indptr = matrix.indptr[lo : hi + 1] - p_lo
        cols = matrix.indices[p_lo:p_hi]
        conf_m1 = (params.alpha * matrix.data[p_lo:p_hi]).astype(fixed.dtype)  # c - 1
        y = fixed[cols]  # (nnz_block, k)
        rows_local = np.repeat(np.arange(hi - lo), np.diff(indptr))
        x = out[lo:hi]

        def apply(v: np.ndarray) -> np.ndarray:
            dots = np.einsum("ij,ij->i", y, v[rows_local])
            return v @ gram + segment_sum(y * (conf_m1 * dots)[:, None], indptr)

        b = segment_sum(y * (1.0 + conf_m1)[:, None], indptr)
        r = b - apply(x)
        p = r.copy()
        rs_old = np.einsum("ij,ij->i", r, r)
        for _ in range(params.cg_steps):
            ap = apply(p)
            denom = np.einsum("ij,ij->i", p, ap)
            step = np.divide(rs_old, denom, out=np.zeros_like(rs_old), where=denom > 1e-20)
            x = x + step[:, None] * p
            r = r - step[:, None] * ap
            rs_new = np.einsum("ij,ij->i", r, r)
            beta = np.divide(rs_new, rs_old, out=np.zeros_like(rs_new), where=rs_old > 1e-20)
            p = r + beta[:, None] * p
            rs_old = rs_new
        out[lo:hi] = x
    return out


def fit_als(user_items: CSR, params: ALSParams = ALSParams(), progress: Progress | None = None) -> ALSFactors:
    """Trains user and item factors from a (users x items) matrix of interaction weights."""
    if user_items.nnz == 0:
        raise EmptyTrainingSetError("no interactions to train on")
    rng = np.random.default_rng(params.seed)
    n_users, n_items = user_items.shape
    scale = 0.01
    users = (rng.standard_normal((n_users, params.factors)) * scale).astype(np.float32)
    items = (rng.standard_normal((n_items, params.factors)) * scale).astype(np.float32)
    item_users = user_items.transpose()
    started = time.perf_counter()
    for it in range(params.iterations):
        users = _solve_half(user_items, items, users, params)
        items = _solve_half(item_users, users, items, params)
        if progress is not None:
            progress({"stage": "als", "iteration": it + 1, "of": params.iterations,
                      "elapsed_s": round(time.perf_counter() - started, 3)})
    return ALSFactors(users, items, params)


def fold_in(gram: np.ndarray, item_factors: np.ndarray, item_idx: np.ndarray, weights: np.ndarray,
            alpha: float) -> np.ndarray:
    """Solves the user vector for a history exactly, so fresh interactions count without retraining."""
    if item_idx.size == 0:
        return np.zeros(item_factors.shape[1], dtype=np.float32)
    y = np.asarray(item_factors[item_idx], dtype=np.float64)
    conf_m1 = alpha * np.asarray(weights, dtype=np.float64)
    a = gram + (y.T * conf_m1) @ y
    b = y.T @ (1.0 + conf_m1)
    return np.linalg.solve(a, b).astype(np.float32)
