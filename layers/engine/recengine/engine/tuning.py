"""Per-tenant hyper-parameter choice on a validation split cut from the tenant's own training
data, within a time budget: a few ALS and EASE configurations, then the blend weight between
them, scored by NDCG@10 with the same fold-in and item-item scoring that serving uses."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from .als import ALSFactors, ALSParams, Progress, fit_als, fold_in
from .ease import EaseParams, ease_scores, fit_ease
from .sparse import CSR

# Tried in this order until the budget runs out; the first of each is the default.
ALS_GRID = (ALSParams(factors=64, regularization=5.0, alpha=2.0, iterations=12),
            ALSParams(factors=128, regularization=20.0, alpha=2.0, iterations=12),
            ALSParams(factors=256, regularization=40.0, alpha=2.0, iterations=12))
EASE_GRID = (EaseParams(l2=60.0, kappa=0.0), EaseParams(l2=30.0, kappa=0.2), EaseParams(l2=150.0, kappa=0.0))
BLEND_WEIGHTS = (0.0, 0.3, 0.5, 0.7, 0.85, 1.0)
MAX_EVAL_USERS = 1500
# Below this many validation users a choice between configurations is mostly noise.
MIN_EVAL_USERS = 200


def holdout(matrix: CSR, fraction: float = 0.2, min_items: int = 5, seed: int = 0) -> tuple[CSR, dict[int, np.ndarray]]:
    """Hides a seeded `fraction` of each user's items (users with >= min_items) for validation."""
    rng = np.random.default_rng(seed)
    rows = matrix.row_ids()
    keep = np.ones(matrix.nnz, dtype=bool)
    held: dict[int, np.ndarray] = {}
    counts = np.diff(matrix.indptr)
    for user in np.flatnonzero(counts >= min_items):
        lo, hi = matrix.indptr[user], matrix.indptr[user + 1]
        k = max(1, int(round(fraction * (hi - lo))))
        pick = lo + rng.choice(hi - lo, k, replace=False)
        keep[pick] = False
        held[int(user)] = matrix.indices[pick].astype(np.int64)
    train = CSR.from_coo(rows[keep], matrix.indices[keep], matrix.data[keep], matrix.shape)
    return train, held


def ndcg_at_10(scores: np.ndarray, seen: np.ndarray, relevant: np.ndarray) -> float:
    scores = scores.copy()
    scores[seen] = -np.inf
    top = np.argpartition(-scores, 10)[:10] if scores.size > 10 else np.arange(scores.size)
    top = top[np.argsort(-scores[top])]
    gains = np.isin(top, relevant) / np.log2(np.arange(2, top.size + 2))
    ideal = (1 / np.log2(np.arange(2, min(10, relevant.size) + 2))).sum()
    return float(gains.sum() / ideal)


def spread(values: list[float]) -> float:
    """The typical per-user score spread, used to put ALS and EASE scores on one scale."""
    positive = [v for v in values if v > 0]
    return float(np.median(positive)) if positive else 1.0


def blend_scales(matrix: CSR, factors: ALSFactors, ease: CSR | None, sample: int = 300, seed: int = 0
                 ) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    users = np.flatnonzero(np.diff(matrix.indptr) > 0)
    users = rng.choice(users, min(sample, users.size), replace=False) if users.size else users
    gram = factors.gram()
    als, item = [], []
    for u in users:
        hist, w = matrix.row(int(u))
        als.append(float(np.std(factors.item_factors @ fold_in(gram, factors.item_factors, hist, w, factors.params.alpha))))
        if ease is not None:
            item.append(float(np.std(ease_scores(ease, hist.astype(np.int64)))))
    return spread(als), spread(item) if ease is not None else 1.0


def tune(matrix: CSR, budget_s: float = 90.0, seed: int = 0, progress: Progress | None = None):
    """Returns (TrainParams, report). Falls back to the defaults when there is too little data."""
    from .model import TrainParams  # model imports this module's consumers; avoid a cycle

    started = time.perf_counter()
    train, held = holdout(matrix, seed=seed)
    users = np.array(sorted(held), dtype=np.int64)
    if users.size < MIN_EVAL_USERS:
        return (TrainParams(als=replace(ALS_GRID[0], seed=seed), ease=None, w_ease=0.0),
                {"skipped": f"{users.size} validation users (< {MIN_EVAL_USERS}): defaults used"})
    rng = np.random.default_rng(seed)
    if users.size > MAX_EVAL_USERS:
        users = np.sort(rng.choice(users, MAX_EVAL_USERS, replace=False))
    histories = [train.row(int(u)) for u in users]

    def over_budget() -> bool:
        return time.perf_counter() - started > budget_s

    als_scores: list[tuple[ALSParams, list[np.ndarray], float]] = []
    ease_scores_: list[tuple[EaseParams, list[np.ndarray], float]] = []
    report: dict = {"validation_users": int(users.size), "tried": []}
    for i in range(max(len(ALS_GRID), len(EASE_GRID))):
        if i and over_budget():
            break
        if i < len(ALS_GRID):
            params = replace(ALS_GRID[i], seed=seed)
            f = fit_als(train, params)
            gram = f.gram()
            rows = [f.item_factors @ fold_in(gram, f.item_factors, h, w, params.alpha) for h, w in histories]
            als_scores.append((params, rows, spread([float(np.std(r)) for r in rows])))
        if i < len(EASE_GRID) and not (i and over_budget()):
            weights = fit_ease(train, EASE_GRID[i])
            rows = [ease_scores(weights, h.astype(np.int64)) for h, _ in histories]
            ease_scores_.append((EASE_GRID[i], rows, spread([float(np.std(r)) for r in rows])))
        if progress:
            progress({"stage": "tuning", "round": i + 1, "elapsed_s": round(time.perf_counter() - started, 1)})

    best = (-1.0, None)
    for a_params, a_rows, a_scale in als_scores:
        for e_params, e_rows, e_scale in ease_scores_ or [(None, None, 1.0)]:
            for w in BLEND_WEIGHTS if e_rows is not None else (0.0,):
                ndcg = float(np.mean([
                    ndcg_at_10((1 - w) / a_scale * a + (w / e_scale * e if e_rows is not None and w else 0.0),
                               h, held[int(u)])
                    for u, (h, _), a, e in zip(users, histories, a_rows, e_rows or [None] * len(a_rows))]))
                report["tried"].append({"als": a_params.as_dict(), "ease": e_params.as_dict() if e_params else None,
                                        "w_ease": w, "ndcg@10": round(ndcg, 4)})
                if ndcg > best[0]:
                    best = (ndcg, TrainParams(als=a_params, ease=e_params, w_ease=w if e_params else 0.0))
    report["best_ndcg@10"] = round(best[0], 4)
    report["tuning_s"] = round(time.perf_counter() - started, 2)
    return best[1], report
