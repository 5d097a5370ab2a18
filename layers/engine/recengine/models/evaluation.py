"""Evaluation of a new version on the tenant's own most recent data: the holdout split and the
metrics the promotion guard compares."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..engine.metrics import coverage_at_k, ndcg_at_k, recall_at_k
from ..engine.model import RecommenderModel, TrainingData

HOLDOUT_FRACTION = 0.2
HOLDOUT_MIN_EVENTS = 5
MAX_EVAL_USERS = 500


@dataclass(frozen=True)
class Holdout:
    """Training events without the held-out ones, and per evaluated user: history and hidden items."""

    train: TrainingData
    histories: list[tuple[list[str], list[float]]]
    hidden: list[set[str]]
    held_events: int

    @property
    def users(self) -> int:
        return len(self.hidden)


def split_holdout(data: TrainingData, fraction: float = HOLDOUT_FRACTION, min_events: int = HOLDOUT_MIN_EVENTS,
                  max_users: int = MAX_EVAL_USERS, seed: int = 0) -> Holdout:
    """Holds out each eligible user's most recent `fraction` of events (users with >= min_events;
    at most `max_users` of them, a seeded sample), so the evaluation asks "what comes next"."""
    users = np.asarray(data.user_ids, dtype=object).astype(str)
    stamps = np.asarray(data.timestamps, dtype=np.float64)
    order = np.lexsort((np.arange(users.size), stamps, users))  # by user, then time, then arrival
    sorted_users = users[order]
    bounds = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1], True])
    eligible = [(bounds[i], bounds[i + 1]) for i in range(bounds.size - 1) if bounds[i + 1] - bounds[i] >= min_events]
    if len(eligible) > max_users:
        rng = np.random.default_rng(seed)
        eligible = [eligible[i] for i in sorted(rng.choice(len(eligible), max_users, replace=False))]
    keep = np.ones(users.size, dtype=bool)
    item_ids, weights = list(data.item_ids), np.asarray(data.weights, dtype=np.float64)
    histories, hidden, held_events = [], [], 0
    for lo, hi in eligible:
        n_hold = max(1, int(round(fraction * (hi - lo))))
        rows = order[lo:hi]
        seen, held = rows[:-n_hold], rows[-n_hold:]
        history = [item_ids[i] for i in seen]
        targets = {item_ids[i] for i in held} - set(history)  # seen items are never recommended
        keep[held] = False
        held_events += len(held)
        if targets:
            histories.append((history, [float(weights[i]) for i in seen]))
            hidden.append(targets)
    kept = np.flatnonzero(keep)
    contexts = [data.contexts[i] for i in kept] if data.contexts is not None else None
    train = TrainingData([data.user_ids[i] for i in kept], [item_ids[i] for i in kept], weights[kept],
                         stamps[kept], contexts)
    return Holdout(train, histories, hidden, held_events)


def evaluate_on_holdout(model: RecommenderModel, holdout: Holdout, algorithm: str = "hybrid") -> dict:
    """Recall@20, NDCG@10 and coverage@20 of `model` over the holdout users (fold-in of their history)."""
    started = time.perf_counter()
    ranked_lists, recall, ndcg = [], 0.0, 0.0
    for (history, weights), targets in zip(holdout.histories, holdout.hidden):
        ranked = [i for i, _ in model.recommend(history, weights, 20, algorithm=algorithm).items]
        ranked_lists.append(ranked)
        recall += recall_at_k(ranked, targets, 20)
        ndcg += ndcg_at_k(ranked, targets, 10)
    n = max(holdout.users, 1)
    return {"recall@20": round(recall / n, 6), "ndcg@10": round(ndcg / n, 6),
            "coverage@20": round(coverage_at_k(ranked_lists, model.n_items, 20), 6),
            "eval_users": holdout.users, "holdout_events": holdout.held_events,
            "eval_s": round(time.perf_counter() - started, 3)}
