"""Sparse item-item model: EASE (Steck 2019) with popularity-proportional regularisation
(as in EDLAE), fitted on the items with enough interactions and pruned to the top weights of
each item, so that serving is a sparse row sum over the user's history.

Two popularity exponents make it a small family that tuning searches per tenant (see tuning.py):
`pop_norm` (a) fits EASE on X D^-a (D: the items' interaction counts), so that a rare history item
weighs more; `pop_penalty` (p) divides each target item's weights by count^p *before* pruning, so
the weights kept per item are its most specific neighbours rather than the blockbusters. On the
goodbooks sample the penalty matters most (validation NDCG@10 +5-7% over plain pruned EASE), which
a penalty on the final scores does not give: it changes which weights survive the pruning.

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
_SWEEP_BLOCK = 512  # pivot block of the in-place inverse: b x n panels (16 MB at 8k items); fewer,
# larger GEMMs also lose less when another process holds a core (2x faster than 256 under load)


@dataclass(frozen=True)
class EaseParams:
    l2: float = 30.0  # lambda: ridge penalty on every weight
    kappa: float = 0.2  # extra penalty per unit of item popularity (diag of the Gram matrix)
    min_count: int = 5  # items with fewer interactions get no item-item weights
    max_items: int = 8_000  # bound on the dense inverse (n^2 floats, O(n^3)): the most popular are kept
    top_k: int = 200  # weights kept per item (by magnitude)
    pop_norm: float = 0.0  # a: fitted on X D^-a, weights mapped back as D^-a B D^a
    pop_penalty: float = 0.0  # p: target item j's weights divided by count_j^p before pruning

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


def spd_inverse(a: np.ndarray, block: int | None = None) -> np.ndarray:
    """Inverse of a symmetric positive definite matrix, computed in place (returns `a`).

    np.linalg.inv works in float64 with an identity right-hand side and a fresh result: 6-7x the
    float32 matrix (2.7 GB peak for 8k items). A blocked symmetric sweep (Gauss-Jordan without
    pivoting, which SPD matrices do not need) only needs b x n panels and updates the upper block
    triangle with float32 GEMMs: n^3 flops instead of ~3n^3, 5x faster, same pruned weights."""
    n = a.shape[0]
    block = block or _SWEEP_BLOCK
    bounds = list(range(0, n, block)) + [n]
    blocks = list(zip(bounds[:-1], bounds[1:]))
    for k0, k1 in blocks:
        # Row panel K of the current (symmetric) matrix; only the upper block triangle is kept valid.
        r = np.empty((k1 - k0, n), dtype=a.dtype)
        r[:, :k0] = a[:k0, k0:k1].T
        r[:, k0:] = a[k0:k1, k0:]
        pivot = r[:, k0:k1].astype(np.float64)
        p = np.linalg.inv((pivot + pivot.T) / 2)
        p = ((p + p.T) / 2).astype(a.dtype)
        q = p @ r
        for i0, i1 in blocks:  # A_OO -= A_OK P A_KO on the upper block triangle
            if i0 != k0:
                a[i0:i1, i0:] -= r[:, i0:i1].T @ q[:, i0:]
        a[k0:k1, k1:] = q[:, k1:]
        a[:k0, k0:k1] = q[:, :k0].T
        a[k0:k1, k0:k1] = -p
    for lo, hi in blocks:  # mirror the upper block triangle; the sweep left -inverse
        a[lo:hi, :lo] = a[:lo, lo:hi].T
        d = a[lo:hi, lo:hi]
        a[lo:hi, lo:hi] = np.triu(d) + np.triu(d, 1).T
    np.negative(a, out=a)
    return a


def ease_inverse(g: np.ndarray, counts: np.ndarray, params: EaseParams) -> np.ndarray:
    """P = (D^-a G D^-a + diag(l2 + kappa * its diagonal))^-1, computed in place of `g` (returned)."""
    if params.pop_norm:
        scale = np.power(np.maximum(counts, 1.0), -params.pop_norm).astype(g.dtype)
        g *= scale[:, None]
        g *= scale[None, :]
    diag = np.diag(g).copy()
    g[np.diag_indices_from(g)] += params.l2 + params.kappa * diag
    return spd_inverse(g)


def prune_inverse(p: np.ndarray, kept: np.ndarray, counts: np.ndarray, n_items: int, pop_norm: float,
                  pop_penalty: float, top_ks: tuple[int, ...]) -> dict[int, CSR]:
    """Pruned weights W = D^-a B D^(a-p), B = -P diag(1/diag P) with a zero diagonal, for each top-k.

    Scaling and pruning go block by block over the rows of P, which is left unchanged: tuning
    prunes one inverse under several penalties and k without another n x n array."""
    c = np.maximum(counts, 1.0)
    rows = np.power(c, -pop_norm)
    cols = (-np.power(c, pop_norm - pop_penalty) / np.diag(p)).astype(np.float32)
    m = kept.size
    k_max = min(max(top_ks), m - 1)
    tops, values = [], []
    for lo in range(0, m, _PRUNE_ROWS):
        block = p[lo:lo + _PRUNE_ROWS] * cols[None, :]
        block *= rows[lo:lo + _PRUNE_ROWS, None].astype(np.float32)
        block[np.arange(block.shape[0]), np.arange(lo, lo + block.shape[0])] = 0.0
        mag = np.abs(block)
        top = np.argpartition(-mag, k_max - 1, axis=1)[:, :k_max]
        order = np.argsort(-np.take_along_axis(mag, top, axis=1), axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)  # by magnitude, largest first: a k-prefix is a top-k
        tops.append(top.astype(np.int32))
        values.append(np.take_along_axis(block, top, axis=1))
    top, vals = np.concatenate(tops), np.concatenate(values)
    out = {}
    for k in top_ks:
        k = min(k, k_max)
        idx = top[:, :k]
        order = np.argsort(idx, axis=1, kind="stable")  # CSR rows sorted by column
        cols_k = kept[np.take_along_axis(idx, order, axis=1)].ravel().astype(np.int32)
        data = np.take_along_axis(vals[:, :k], order, axis=1).ravel().astype(np.float32)
        indptr = np.zeros(n_items + 1, dtype=np.int64)
        lengths = np.zeros(n_items, dtype=np.int64)
        lengths[kept] = k
        np.cumsum(lengths, out=indptr[1:])
        # kept is sorted, so the rows' blocks of k are already in row order.
        out[k] = CSR(indptr, cols_k, data, (n_items, n_items))
    return out


def empty_weights(n_items: int) -> CSR:
    return CSR(np.zeros(n_items + 1, dtype=np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32),
               (n_items, n_items))


def fit_ease(user_items: CSR, params: EaseParams = EaseParams(), progress: Progress | None = None) -> CSR:
    """Item-item weights W as a CSR matrix (row = history item, column = scored item)."""
    started = time.perf_counter()
    n_items = user_items.shape[1]
    kept = kept_items(user_items, params)
    if kept.size < 2:
        return empty_weights(n_items)
    g = gram(user_items, kept)
    counts = np.diag(g).astype(np.float64)
    p = ease_inverse(g, counts, params)  # in place: the Gram matrix is the only n x n array
    matrix = prune_inverse(p, kept, counts, n_items, params.pop_norm, params.pop_penalty,
                           (params.top_k,))[min(params.top_k, kept.size - 1)]
    del p, g
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
