"""Sparse item-item model: EASE (Steck 2019) with popularity-proportional regularisation
(as in EDLAE), fitted on the items with enough interactions and pruned to the top weights of
each item, so that serving is a sparse row sum over the user's history.

The dense inverse costs O(n^3) in the number of kept items, which is why `max_items` bounds it;
rarer items keep their collaborative-filtering (ALS) scores."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from .als import Progress
from .sparse import CSR

_PAIR_CHUNK = 4_000_000  # co-occurring pairs counted per batch
_PRUNE_ROWS = 512  # rows of the inverse pruned at a time (bounds the argpartition buffers)
_HEAVY_USER = 512  # users with more kept items than this are counted with dense products
_HEAVY_BLOCK = 256


@dataclass(frozen=True)
class EaseParams:
    l2: float = 30.0  # lambda: ridge penalty on every weight
    kappa: float = 0.2  # extra penalty per unit of item popularity (diag of the Gram matrix)
    min_count: int = 5  # items with fewer interactions get no item-item weights
    max_items: int = 8_000  # bound on the dense inverse (n^2 floats, O(n^3)): the most popular are kept
    top_k: int = 200  # weights kept per item (by magnitude)

    def as_dict(self) -> dict:
        return asdict(self)


def kept_items(user_items: CSR, params: EaseParams) -> np.ndarray:
    counts = np.bincount(user_items.indices, minlength=user_items.shape[1])
    eligible = np.flatnonzero(counts >= params.min_count)
    if eligible.size > params.max_items:
        eligible = np.sort(eligible[np.argsort(-counts[eligible], kind="stable")[: params.max_items]])
    return eligible


def gram(user_items: CSR, kept: np.ndarray) -> np.ndarray:
    """X^T X over the kept items for a binary X, counted from each user's co-occurring pairs:
    O(sum of squared history lengths) instead of the users x items^2 of dense products."""
    column = np.full(user_items.shape[1], -1, dtype=np.int64)
    column[kept] = np.arange(kept.size)
    m = kept.size
    g = np.zeros((m, m), dtype=np.float32)
    flat = g.reshape(-1)
    cols = column[user_items.indices]
    pending: list[np.ndarray] = []
    size = 0

    def flush() -> None:
        if pending:
            uniq, counts = np.unique(np.concatenate(pending), return_counts=True)
            flat[uniq] += counts
            pending.clear()

    heavy: list[np.ndarray] = []
    for user in np.flatnonzero(np.diff(user_items.indptr)):
        c = cols[user_items.indptr[user]:user_items.indptr[user + 1]]
        c = c[c >= 0]
        if c.size > _HEAVY_USER:
            heavy.append(c)  # L^2 pairs would be too many: these go through dense products below
        elif c.size:
            pending.append((c[:, None] * m + c[None, :]).ravel())
            size += c.size * c.size
            if size > _PAIR_CHUNK:
                flush()
                size = 0
    flush()
    for start in range(0, len(heavy), _HEAVY_BLOCK):
        block = heavy[start:start + _HEAVY_BLOCK]
        x = np.zeros((len(block), m), dtype=np.float32)
        for row, c in enumerate(block):
            x[row, c] = 1.0
        g += x.T @ x
    return g


def fit_ease(user_items: CSR, params: EaseParams = EaseParams(), progress: Progress | None = None) -> CSR:
    """Item-item weights B as a CSR matrix (row = history item, column = scored item)."""
    started = time.perf_counter()
    n_items = user_items.shape[1]
    kept = kept_items(user_items, params)
    if kept.size < 2:
        return CSR(np.zeros(n_items + 1, dtype=np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32),
                   (n_items, n_items))
    g = gram(user_items, kept)
    diag = np.diag(g).copy()
    g[np.diag_indices_from(g)] += params.l2 + params.kappa * diag
    p = np.linalg.inv(g)
    del g  # the inverse is the only n x n array kept from here on
    p /= -np.diag(p)[None, :]  # B = -P diag(1/diag P), column-wise
    np.fill_diagonal(p, 0.0)
    k = min(params.top_k, kept.size - 1)
    tops, values = [], []
    for lo in range(0, kept.size, _PRUNE_ROWS):
        block = p[lo:lo + _PRUNE_ROWS]
        top = np.argpartition(-np.abs(block), k - 1, axis=1)[:, :k]
        tops.append(top.astype(np.int32))
        values.append(np.take_along_axis(block, top, axis=1))
    del p
    top, vals = np.concatenate(tops), np.concatenate(values)
    matrix = CSR.from_coo(np.repeat(kept, k), kept[top.ravel()], vals.ravel(), (n_items, n_items))
    if progress:
        progress({"stage": "ease", "items": int(kept.size), "nnz": matrix.nnz,
                  "elapsed_s": round(time.perf_counter() - started, 3)})
    return matrix


def ease_scores(weights: CSR, history: np.ndarray, history_weights: np.ndarray | None = None) -> np.ndarray:
    """Scores of every item for a history: the sum of the history items' weight rows."""
    n = weights.shape[1]
    if history.size == 0:
        return np.zeros(n, dtype=np.float64)
    starts, stops = weights.indptr[history], weights.indptr[history + 1]
    lengths = stops - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(n, dtype=np.float64)
    # Gather all the rows' slices at once: positions start..stop-1 of each row.
    offsets = np.repeat(starts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
    positions = np.arange(total) + offsets
    values = weights.data[positions].astype(np.float64)
    if history_weights is not None:
        values *= np.repeat(history_weights, lengths)
    return np.bincount(weights.indices[positions], weights=values, minlength=n)
