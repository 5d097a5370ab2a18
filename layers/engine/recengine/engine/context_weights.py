"""The context weights: a validation split of context events, and the blend weights of context chosen on it."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

import numpy as np

from .als import Progress
from .context import ContextModel, ContextParams, EventFeatures, context_scale, event_features
from .metrics import ndcg_of_ranks
from .popularity import popularity_scores
from .recommender import TIE_BREAK, RecommenderModel
from .sparse import CSR

# Context weights tried on the validation split: additive (in units of the context score's spread)
# for personalised rankings, and the exponent of the lift for popular/trending.
CONTEXT_WEIGHTS = (0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5)
CONTEXT_POPULAR_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)


@dataclass
class ContextPlan:
    """The context model fitted on every event, and the validation events for its weights."""

    events: EventFeatures
    model: ContextModel | None
    held: np.ndarray  # validation event positions (empty: no weight is chosen)
    keep: np.ndarray  # per-event mask: not a validation event
    matrix: CSR | None  # user x item without the validation events
    report: dict


def plan_context(contexts: Sequence[Mapping[str, Any] | None], user_idx: np.ndarray, item_idx: np.ndarray,
                 weights: np.ndarray, timestamps: np.ndarray, n_users: int, n_items: int, params: ContextParams,
                 seed: int) -> ContextPlan:
    """Fits the context model and, when it has learnt any lift, cuts the validation split: the
    last event with context of a seeded sample of up to `eval_users` users with >= 3 events.

    The collaborative parts are then fitted without those events, so that the weight is measured
    on the served scoring without a second fit; a model that had seen them ranks the held-out items
    too well and makes a context weight look right that is wrong on new events. Fold-in at request
    time still uses every event of the user's history."""
    events = event_features(contexts)
    nothing = np.zeros(0, dtype=np.int64)
    keep = np.ones(item_idx.size, dtype=bool)
    if events.event.size == 0:
        return ContextPlan(events, None, nothing, keep, None, {"skipped": "no event carries context"})
    model = ContextModel.fit_events(events, item_idx, n_items, user_idx, params)
    report: dict[str, Any] = dict(model.info)
    if model.nnz == 0:
        report["skipped"] = "no context lift survives the shrinkage: context unused"
        return ContextPlan(events, None, nothing, keep, None, report)
    has = np.unique(events.event)
    order = np.lexsort((has, np.asarray(timestamps, dtype=np.float64)[has], user_idx[has]))
    by_user = has[order]
    last = by_user[np.r_[user_idx[by_user][1:] != user_idx[by_user][:-1], True]]
    last = last[np.bincount(user_idx, minlength=n_users)[user_idx[last]] >= 3]
    rng = np.random.default_rng(seed)
    held = np.sort(rng.choice(last, min(params.eval_users, last.size), replace=False)) if last.size else nothing
    if held.size < params.min_eval_users:
        report["skipped"] = f"{held.size} validation events (< {params.min_eval_users}): context weight 0"
        return ContextPlan(events, model, nothing, keep, None, report)
    keep[held] = False
    matrix = CSR.from_coo(user_idx[keep], item_idx[keep], weights[keep], (n_users, n_items))
    return ContextPlan(events, model, held, keep, matrix, report)


def add_context(model: RecommenderModel, plan: ContextPlan, contexts: Sequence[Mapping[str, Any] | None],
                user_idx: np.ndarray, item_idx: np.ndarray, weights: np.ndarray, timestamps: np.ndarray,
                params: ContextParams, seed: int, progress: Progress | None) -> None:
    """Attaches the context model and sets its blend weights from the validation split: a context
    model fitted without the validation events, and each held-out item ranked from the rest of its
    user's history under each candidate weight (NDCG@10) with the served scoring. A weight above 0
    is kept only if it beats 0 by two standard errors of the paired difference, so context that
    does not help stays off."""
    started = time.perf_counter()
    report = dict(plan.report)
    if plan.model is None:
        model.meta["context"] = report
        return
    model.context_model = plan.model
    rng = np.random.default_rng(seed)
    with_context = np.unique(plan.events.event)
    sample = rng.choice(with_context, min(300, with_context.size), replace=False)
    scale = context_scale(plan.model, (contexts[int(e)] for e in sample))
    w_personal = w_popular = 0.0
    if plan.held.size:
        validation = ContextModel.fit_events(plan.events, item_idx, model.n_items, user_idx, params, keep=plan.keep)
        val_scale = context_scale(validation, (contexts[int(e)] for e in sample))
        popularity = popularity_scores(item_idx[plan.keep], weights[plan.keep], timestamps[plan.keep], model.n_items)
        personal, popular = _context_ndcg(model, validation, val_scale, popularity, plan.held, contexts, user_idx,
                                          item_idx, plan.matrix, started + params.budget_s)
        report.update({"held_out_of_fit": int(plan.held.size), "validation_events": int(personal.shape[0])})
        if personal.shape[0] >= params.min_eval_users:
            w_personal, report["ndcg@10"] = _choose_weight(personal, CONTEXT_WEIGHTS)
            w_popular, report["ndcg@10_popular"] = _choose_weight(popular, CONTEXT_POPULAR_WEIGHTS)
        else:
            report["skipped"] = f"{personal.shape[0]} validation events in the time budget: context weight 0"
    model.blend = replace(model.blend, w_context=w_personal, scale_context=scale, w_context_popular=w_popular)
    report.update({"w_context": w_personal, "w_context_popular": w_popular, "scale_context": round(scale, 6),
                   "context_s": round(time.perf_counter() - started, 3)})
    model.meta["context"] = report
    if progress:
        progress({"stage": "context", **{k: v for k, v in report.items() if not isinstance(v, dict)}})


def _context_ndcg(model: RecommenderModel, validation: ContextModel, scale: float, popularity: np.ndarray,
                  held: np.ndarray, contexts: Sequence[Mapping[str, Any] | None], user_idx: np.ndarray,
                  item_idx: np.ndarray, matrix: CSR, deadline: float) -> tuple[np.ndarray, np.ndarray]:
    """NDCG@10 of each held-out item under each weight: (events x CONTEXT_WEIGHTS) for the hybrid,
    (events x CONTEXT_POPULAR_WEIGHTS) for popular. The context moves few items, so each weight's
    rank is counted from the base scores with only those items rescored."""
    popularity = np.asarray(popularity, dtype=np.float64)
    personal, popular = [], []

    def rank(base: np.ndarray, idx: np.ndarray, moved: np.ndarray, target_score: float) -> int:
        """Items above the target when the items `idx` score `moved` instead of their base."""
        return int(np.count_nonzero(base > target_score) - np.count_nonzero(base[idx] > target_score)
                   + np.count_nonzero(moved > target_score))

    for e in held.tolist():
        if time.perf_counter() > deadline:
            break
        hist, w = matrix.row(int(user_idx[e]))
        target = int(item_idx[e])
        if hist.size == 0 or target in set(hist.tolist()):
            continue  # nothing to fold in, or a repeat, which recommend never returns
        hist = hist.astype(np.int64)
        idx, lift = validation.sparse(contexts[e])
        at = int(np.searchsorted(idx, target))
        lift_t = float(lift[at]) if at < idx.size and idx[at] == target else 0.0
        base = model.collaborative_scores(hist, w.astype(np.float64), None, "hybrid")
        base += TIE_BREAK * model.popularity
        # float64 as served with context; a float32 target score would be rounded below its own
        # rescored value and count the target above itself.
        base = base.astype(np.float64)
        base[hist] = -np.inf
        pop = popularity.copy()
        pop[hist] = -np.inf
        personal.append(ndcg_of_ranks([rank(base, idx, base[idx] + c * lift, base[target] + c * lift_t)
                                       for c in (weight / scale for weight in CONTEXT_WEIGHTS)], 10))
        popular.append(ndcg_of_ranks([rank(pop, idx, pop[idx] * np.exp(weight * lift),
                                           pop[target] * np.exp(weight * lift_t))
                                      for weight in CONTEXT_POPULAR_WEIGHTS], 10))
    return (np.asarray(personal, dtype=np.float64).reshape(-1, len(CONTEXT_WEIGHTS)),
            np.asarray(popular, dtype=np.float64).reshape(-1, len(CONTEXT_POPULAR_WEIGHTS)))


def _choose_weight(table: np.ndarray, grid: Sequence[float]) -> tuple[float, dict[str, float]]:
    """The weight with the best mean NDCG if it beats weight 0 (grid[0]) by two standard errors
    of the paired per-event difference, else 0; and the mean NDCG of every weight."""
    means = table.mean(axis=0)
    best = int(np.argmax(means))  # the first maximum: the smallest weight among equals
    diff = table[:, best] - table[:, 0]
    se = float(diff.std(ddof=1) / np.sqrt(diff.size)) if diff.size > 1 else np.inf
    chosen = float(grid[best]) if best and diff.mean() > 2 * se else 0.0
    return chosen, {str(w): round(float(m), 4) for w, m in zip(grid, means)}
