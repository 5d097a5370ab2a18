"""Top-k ranking metrics, in one place for evaluation, tuning, the context weights and promotion.

- Recall@k = hits in the top k / min(k, |test|).
- NDCG@k with binary gains: DCG = sum over hits at rank r (0-based) of 1 / log2(r + 2); the ideal
  DCG puts min(k, |test|) hits at the top.
- Coverage@k = distinct items in the top k of all test users / items in the training catalogue.

Held-out items outside the training catalogue (code -1) can never be hit but count in |test|.
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

import numpy as np

# (user codes, k) -> (len(users), k) item codes, best first, -1 where fewer than k items exist.
Ranker = Callable[[np.ndarray, int], np.ndarray]

METRICS = ("recall@20", "ndcg@10", "ndcg@100", "coverage@20")
K_MAX = 100


def discounts(k: int) -> np.ndarray:
    """The NDCG discount of each 0-based rank below k: 1 / log2(rank + 2)."""
    return 1.0 / np.log2(np.arange(k) + 2.0)


def recall_at_k(ranked: Sequence, relevant: Iterable, k: int) -> float:
    rel = set(relevant)
    if not rel:
        return 0.0
    hits = sum(1 for item in list(ranked)[:k] if item in rel)
    return hits / min(k, len(rel))


def ndcg_at_k(ranked: Sequence, relevant: Iterable, k: int) -> float:
    rel = set(relevant)
    if not rel:
        return 0.0
    disc = discounts(k)
    dcg = sum(disc[r] for r, item in enumerate(list(ranked)[:k]) if item in rel)
    idcg = disc[: min(k, len(rel))].sum()
    return float(dcg / idcg)


def ndcg_of_scores(scores: np.ndarray, seen: np.ndarray, relevant: np.ndarray, k: int = 10) -> float:
    """NDCG@k of the items a score vector ranks first, `seen` items excluded; `relevant` are
    distinct item indices. For validation loops that score every item of one user at a time."""
    scores = scores.copy()
    scores[seen] = -np.inf
    top = np.argpartition(-scores, k)[:k] if scores.size > k else np.arange(scores.size)
    top = top[np.argsort(-scores[top])]
    dcg = (np.isin(top, relevant) * discounts(top.size)).sum()
    return float(dcg / discounts(min(k, relevant.size)).sum())


def ndcg_of_ranks(ranks: Sequence[int] | np.ndarray, k: int = 10) -> np.ndarray:
    """NDCG@k when a single item is relevant, for each of its 0-based ranks: the discount of the
    rank (the ideal DCG is 1), 0 from rank k on."""
    ranks = np.asarray(ranks, dtype=np.int64)
    return np.where(ranks < k, discounts(k)[np.minimum(ranks, k - 1)], 0.0)


def coverage_at_k(ranked_lists: Iterable[Sequence], n_items: int, k: int = 20) -> float:
    seen = {item for ranked in ranked_lists for item in list(ranked)[:k] if item is not None and item != -1}
    return len(seen) / n_items if n_items else 0.0


def top_k_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Per row, the indices of the k best finite scores, best first; -1 pads rows short of k."""
    b, n = scores.shape
    kk = min(k, n)
    out = np.full((b, k), -1, dtype=np.int64)
    if kk == 0 or b == 0:
        return out
    part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk] if kk < n else np.tile(np.arange(n), (b, 1))
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    idx = np.take_along_axis(part, order, axis=1)
    finite = np.isfinite(np.take_along_axis(part_scores, order, axis=1))
    out[:, :kk] = np.where(finite, idx, -1)
    return out


def dense_ranker(score_fn: Callable[[np.ndarray], np.ndarray], train) -> Ranker:
    """A Ranker from a (users) -> (len(users), n_items) scorer; the users' train items get -inf."""

    def rank(users: np.ndarray, k: int) -> np.ndarray:
        scores = np.array(score_fn(users), dtype=np.float32, copy=True)
        pos, cols, _ = train.rows_coo(users)
        scores[pos, cols] = -np.inf
        return top_k_rows(scores, k)

    return rank


def evaluate(ranker: Ranker, users: np.ndarray, test_items: Sequence[np.ndarray], n_items: int,
             metrics: Sequence[str] = METRICS, batch: int = 512) -> dict[str, float]:
    """Mean of each metric over the test users, ranking them `batch` at a time."""
    parsed = [(name, name.split("@")[0], int(name.split("@")[1])) for name in metrics]
    k_max = max(k for _, _, k in parsed)
    sums = {name: 0.0 for name in metrics}
    covered: dict[int, set] = {k: set() for _, kind, k in parsed if kind == "coverage"}
    disc = discounts(k_max)
    cum_disc = np.concatenate(([0.0], np.cumsum(disc)))
    users = np.asarray(users, dtype=np.int64)
    for lo in range(0, users.size, batch):
        chunk = users[lo : lo + batch]
        tests = test_items[lo : lo + batch]
        top = np.asarray(ranker(chunk, k_max), dtype=np.int64)
        n_test = np.array([t.size for t in tests], dtype=np.int64)
        # hits[b, r]: is the item at rank r one of user b's held-out items?
        rows = np.repeat(np.arange(chunk.size), n_test)
        flat_test = np.concatenate(tests) if tests else np.empty(0, dtype=np.int64)
        valid = flat_test >= 0
        held = rows[valid] * (n_items + 1) + flat_test[valid]
        keys = np.arange(chunk.size)[:, None] * (n_items + 1) + np.where(top >= 0, top, n_items)
        hits = np.isin(keys, held) & (top >= 0)
        for name, kind, k in parsed:
            h = hits[:, :k]
            if kind == "recall":
                sums[name] += float((h.sum(axis=1) / np.minimum(k, n_test)).sum())
            elif kind == "ndcg":
                dcg = (h * disc[:k]).sum(axis=1)
                sums[name] += float((dcg / cum_disc[np.minimum(k, n_test)]).sum())
            elif kind == "coverage":
                t = top[:, :k]
                covered[k].update(np.unique(t[t >= 0]).tolist())
            else:
                raise ValueError(f"unknown metric {name!r}")
    n = max(users.size, 1)
    out = {}
    for name, kind, k in parsed:
        out[name] = len(covered[k]) / n_items if kind == "coverage" else sums[name] / n
    return out
