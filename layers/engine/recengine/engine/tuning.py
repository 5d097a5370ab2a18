"""Per-tenant hyper-parameter choice on a validation split cut from the tenant's own training
data, within a time budget, scored by NDCG@10 with the same fold-in and item-item scoring that
serving uses.

The item-item model is searched first (it carries most of the accuracy): its ridge penalty as a
multiple of the mean Gram diagonal, scanned by factors of 2 while validation improves, then the
popularity exponents and the pruning (ease.py), which reuse one inverse per penalty. ALS
configurations follow while the budget lasts, each scored blended with the chosen item-item
model over the blend weights. Nothing about one data set is built in: every choice is made on the
tenant's own validation users."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from .als import ALSFactors, ALSParams, Progress, fit_als, fold_in
from .ease import EaseParams, ease_inverse, ease_scores, gram, kept_items, prune_inverse
from .holdout import HOLDOUT_FRACTION, MIN_EVENTS, held_out
from .metrics import ndcg_of_scores
from .params import TrainParams
from .sparse import CSR

# Tried in this order while the budget lasts; the first is the default. Regularisation grows with
# the factors (a fixed one collapses wide models towards popularity).
ALS_GRID = (ALSParams(factors=64, regularization=5.0, alpha=2.0, iterations=12),
            ALSParams(factors=128, regularization=18.0, alpha=2.0, iterations=12),
            ALSParams(factors=256, regularization=24.0, alpha=5.0, iterations=12))
BLEND_WEIGHTS = (0.0, 0.3, 0.5, 0.7, 0.85, 1.0)
# A wider ALS must beat the best so far by this share of NDCG to be chosen: its fold-in costs
# O(factors^3) on every request, and smaller differences are validation noise.
WIDER_ALS_MARGIN = 0.01
# Item-item search: lambda = RELATIVE_L2 * mean diagonal of the (normalised) Gram matrix, scaled by 2
# up or down while validation improves; then the other popularity normalisations at the best ratio.
RELATIVE_L2 = 4.0
ITEM_KAPPA = 0.1  # EDLAE-style share of each item's own count added to its penalty
POP_NORMS = (0.15, 0.0, 0.3)
POP_PENALTIES = (0.0, 0.1, 0.2, 0.3)
# The first is tried with every penalty, the others with the best one. Hard pruning helps, down to
# ~10-30 weights per item on the goodbooks sample; too few starve the rare items.
TOP_KS = (50, 12, 25, 100, 200)
ITEM_BUDGET_SHARE = 0.6  # of the budget, for the item-item search (the default ALS always runs)
MAX_EVAL_USERS = 1500
# Below this many validation users a choice between configurations is mostly noise.
MIN_EVAL_USERS = 200
SCALE_USERS = 300  # users whose score spread puts ALS and item-item scores on one scale


def holdout(matrix: CSR, fraction: float = HOLDOUT_FRACTION, min_items: int = MIN_EVENTS, seed: int = 0
            ) -> tuple[CSR, dict[int, np.ndarray]]:
    """Hides a seeded random `fraction` of each user's items (users with >= min_items) for
    validation (holdout.py's rule, drawn per user); returns the rest and each user's hidden items."""
    rows = matrix.row_ids()
    held = held_out(rows, "random", draw="per_user", seed=seed, fraction=fraction, min_events=min_items)
    train = CSR.from_coo(rows[~held], matrix.indices[~held], matrix.data[~held], matrix.shape)
    users, starts = np.unique(rows[held], return_index=True)
    items = np.split(matrix.indices[held].astype(np.int64), starts[1:]) if users.size else []
    return train, dict(zip(users.tolist(), items))


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


def _item_ndcg(weights: CSR, histories: list, relevant: list) -> tuple[float, float]:
    """Mean validation NDCG@10 of item-item scores alone, and their typical per-user spread."""
    ndcgs, spreads = [], []
    for (h, _), rel in zip(histories, relevant):
        scores = ease_scores(weights, h.astype(np.int64))
        ndcgs.append(ndcg_of_scores(scores, h, rel))
        spreads.append(float(np.std(scores)))
    return float(np.mean(ndcgs)), spread(spreads)


def search_item_item(train: CSR, histories: list, relevant: list, deadline: float, report: dict,
                     progress: Progress | None = None) -> tuple[EaseParams, CSR, float, float] | None:
    """The best (params, weights, validation NDCG@10, spread) of the item-item family, or None when
    too few items qualify. The first candidate always runs; the others only before `deadline`."""
    kept = kept_items(train, EaseParams())
    if kept.size < 2:
        return None
    g = gram(train, kept)
    counts = np.diag(g).astype(np.float64)
    n_items = train.shape[1]
    tried: dict[tuple[float, float], tuple[float, EaseParams, CSR, float]] = {}
    started = time.perf_counter()
    last_s = 0.0  # the previous candidate's time: one that would end past the deadline is not started

    def candidate(a: float, ratio: float) -> float | None:
        nonlocal last_s
        key = (a, ratio)
        if key in tried:
            return tried[key][0]
        if tried and time.perf_counter() + last_s > deadline:
            return None
        t = time.perf_counter()
        l2 = float(ratio * np.mean(np.power(np.maximum(counts, 1.0), 1.0 - 2.0 * a)))
        base = EaseParams(l2=round(l2, 4), kappa=ITEM_KAPPA, pop_norm=a)
        p = ease_inverse(g.copy(), counts, base)
        best: tuple[float, EaseParams, CSR, float] | None = None
        pruned_best: dict[int, CSR] = {}
        for penalty in POP_PENALTIES:
            pruned = prune_inverse(p, kept, counts, n_items, a, penalty, TOP_KS)
            k = min(TOP_KS[0], kept.size - 1)
            ndcg, scale = _item_ndcg(pruned[k], histories, relevant)
            report["tried"].append({"ease": replace(base, pop_penalty=penalty, top_k=k).as_dict(),
                                    "ndcg@10": round(ndcg, 4)})
            if best is None or ndcg > best[0]:
                best, pruned_best = (ndcg, replace(base, pop_penalty=penalty, top_k=k), pruned[k], scale), pruned
        for k in TOP_KS[1:]:
            k = min(k, kept.size - 1)
            if k == best[1].top_k:
                continue
            ndcg, scale = _item_ndcg(pruned_best[k], histories, relevant)
            report["tried"].append({"ease": replace(best[1], top_k=k).as_dict(), "ndcg@10": round(ndcg, 4)})
            if ndcg > best[0]:
                best = (ndcg, replace(best[1], top_k=k), pruned_best[k], scale)
        del p
        tried[key] = best
        last_s = time.perf_counter() - t
        if progress:
            progress({"stage": "tuning", "item_item": best[1].as_dict(), "ndcg@10": round(best[0], 4),
                      "candidate_s": round(time.perf_counter() - t, 2),
                      "elapsed_s": round(time.perf_counter() - started, 1)})
        return best[0]

    def scan(a: float, ratio: float) -> None:
        """From `ratio`, doubles (or else halves) lambda while the validation score improves."""
        here = candidate(a, ratio)
        if here is None:
            return
        for step in (2.0, 0.5):
            r, current = ratio, here
            while True:
                nxt = candidate(a, r * step)
                if nxt is None or nxt <= current:
                    break
                r, current = r * step, nxt
            if r != ratio:
                return  # moved up: no need to look down

    scan(POP_NORMS[0], RELATIVE_L2)
    for a in POP_NORMS[1:]:
        best_a, best_ratio = max(tried, key=lambda k: tried[k][0])
        here = candidate(a, best_ratio)
        if here is not None and here > tried[(best_a, best_ratio)][0]:
            scan(a, best_ratio)
    best_a, best_ratio = max(tried, key=lambda k: tried[k][0])
    for step in (2 ** 0.5, 2 ** -0.5):  # a finer lambda between the scan's points, while time is left
        candidate(best_a, best_ratio * step)
    ndcg, params, weights, scale = max(tried.values(), key=lambda v: v[0])
    return params, weights, ndcg, scale


def _blend_ndcgs(factors: ALSFactors, item: CSR | None, item_scale: float, histories: list, relevant: list,
                 weights: tuple[float, ...]) -> list[float]:
    """Validation NDCG@10 of each blend weight of ALS with the item-item scores, as serving blends
    them (each divided by its spread across users); item-item rows are recomputed, never stored."""
    gram_ = factors.gram()
    y = factors.item_factors
    alpha = factors.params.alpha
    sample = histories[:SCALE_USERS]
    als_scale = spread([float(np.std(y @ fold_in(gram_, y, h, w, alpha))) for h, w in sample])
    sums = np.zeros(len(weights))
    for (h, w_hist), rel in zip(histories, relevant):
        als = (y @ fold_in(gram_, y, h, w_hist, alpha)).astype(np.float64) / als_scale
        ease = ease_scores(item, h.astype(np.int64)) / item_scale if item is not None else None
        for j, w in enumerate(weights):
            scores = als if ease is None or w == 0 else (1 - w) * als + w * ease
            sums[j] += ndcg_of_scores(scores, h, rel)
    return (sums / max(len(histories), 1)).tolist()


def tune(matrix: CSR, budget_s: float = 90.0, seed: int = 0, progress: Progress | None = None
         ) -> tuple[TrainParams, dict]:
    """Returns (TrainParams, report). Falls back to the defaults when there is too little data."""
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
    relevant = [held[int(u)] for u in users]
    report: dict = {"validation_users": int(users.size), "tried": []}

    item = search_item_item(train, histories, relevant, started + ITEM_BUDGET_SHARE * budget_s, report, progress)
    if item is not None:
        report["item_item"] = {"params": item[0].as_dict(), "ndcg@10": round(item[2], 4),
                               "s": round(time.perf_counter() - started, 1)}
    item_params, item_weights, _, item_scale = item if item is not None else (None, None, 0.0, 1.0)
    blend_weights = BLEND_WEIGHTS if item is not None else (0.0,)

    best: tuple[float, object] = (-1.0, None)
    last: tuple[float, int] | None = None  # (seconds, factors) of the previous ALS configuration
    for als_params in ALS_GRID:
        # Skip a configuration that would end past the budget (its cost grows about linearly with
        # the factors); the first always runs.
        if last and time.perf_counter() - started + last[0] * als_params.factors / last[1] > budget_s:
            break
        t = time.perf_counter()
        params = replace(als_params, seed=seed)
        ndcgs = _blend_ndcgs(fit_als(train, params), item_weights, item_scale, histories, relevant, blend_weights)
        last = (time.perf_counter() - t, params.factors)
        for w, ndcg in zip(blend_weights, ndcgs):
            report["tried"].append({"als": params.as_dict(), "ease": item_params.as_dict() if w else None,
                                    "w_ease": w, "ndcg@10": round(ndcg, 4)})
        j = int(np.argmax(ndcgs))
        wider = best[1] is not None and params.factors > best[1].als.factors
        if ndcgs[j] > best[0] * (1 + WIDER_ALS_MARGIN if wider else 1):
            w = blend_weights[j]
            best = (ndcgs[j], TrainParams(als=params, ease=item_params if w else None, w_ease=w))
        if progress:
            progress({"stage": "tuning", "als": params.as_dict(), "best_ndcg@10": round(best[0], 4),
                      "elapsed_s": round(time.perf_counter() - started, 1)})
    report["best_ndcg@10"] = round(best[0], 4)
    report["tuning_s"] = round(time.perf_counter() - started, 2)
    return best[1], report
