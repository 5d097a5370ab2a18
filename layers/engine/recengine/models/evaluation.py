"""Evaluation of a new version on the tenant's own most recent data: the holdout split and the
metrics the promotion guard compares."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..engine.holdout import HOLDOUT_FRACTION, MIN_EVENTS, held_out
from ..engine.metrics import coverage_at_k, ndcg_at_k, recall_at_k
from ..engine.recommender import RecommenderModel
from ..engine.training import TrainingData

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


def split_holdout(data: TrainingData, fraction: float = HOLDOUT_FRACTION, min_events: int = MIN_EVENTS,
                  max_users: int = MAX_EVAL_USERS, seed: int = 0) -> Holdout:
    """Holds out each eligible user's most recent `fraction` of events (holdout.py's rule, by time;
    at most `max_users` users, a seeded sample of those with >= min_events), so the evaluation asks
    "what comes next"."""
    _, users = np.unique(np.asarray(data.user_ids, dtype=object).astype(str), return_inverse=True)
    stamps = np.asarray(data.timestamps, dtype=np.float64)
    counts = np.bincount(users)
    eligible = np.flatnonzero(counts >= min_events)
    if eligible.size > max_users:
        rng = np.random.default_rng(seed)
        eligible = eligible[np.sort(rng.choice(eligible.size, max_users, replace=False))]
    held = held_out(users, "time", timestamps=stamps, fraction=fraction, min_events=min_events)
    held &= np.isin(users, eligible)  # users outside the sample keep every event
    order = np.lexsort((np.arange(users.size), stamps, users))  # by user, then time, then arrival
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    item_ids, weights = list(data.item_ids), np.asarray(data.weights, dtype=np.float64)
    histories, hidden = [], []
    for user in eligible.tolist():
        rows = order[starts[user]:starts[user] + counts[user]]
        seen = rows[~held[rows]]
        history = [item_ids[i] for i in seen]
        targets = {item_ids[i] for i in rows[held[rows]]} - set(history)  # seen items are never recommended
        if targets:
            histories.append((history, [float(weights[i]) for i in seen]))
            hidden.append(targets)
    kept = np.flatnonzero(~held)
    contexts = [data.contexts[i] for i in kept] if data.contexts is not None else None
    train = TrainingData([data.user_ids[i] for i in kept], [item_ids[i] for i in kept], weights[kept],
                         stamps[kept], contexts)
    return Holdout(train, histories, hidden, int(held.sum()))


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
