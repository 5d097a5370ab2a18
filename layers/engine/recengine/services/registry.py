"""Model registry rules: holdout evaluation, the promotion guard, retention, promote and rollback."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from aws_lambda_powertools import Logger

from ..engine.model import RecommenderModel, TrainingData
from ..errors import ConflictError, NotFoundError
from ..evaluation.metrics import coverage_at_k, ndcg_at_k, recall_at_k
from ..stores.artefacts import ArtefactStore
from ..stores.dynamo import ModelRegistry

logger = Logger(child=True)

STATUSES = ("training", "candidate", "live", "retired", "failed")
GUARDED_METRICS = ("recall@20", "ndcg@10")  # a candidate may not be worse than live on either
HOLDOUT_FRACTION = 0.2
HOLDOUT_MIN_EVENTS = 5
MAX_EVAL_USERS = 500


class ModelNotFoundError(NotFoundError):
    """No such model version for this tenant (404 `/problems/model-not-found`)."""

    code = "model-not-found"


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


def promotion_decision(candidate: dict, live: dict | None, tolerance: float) -> tuple[bool, str]:
    """(promote?, why). A candidate is promoted unless, on a guarded metric, it falls more than
    `tolerance` (relative) below the live model's stored value."""
    if live is None:
        return True, "no live model"
    live_metrics, cand_metrics = live.get("metrics") or {}, candidate.get("metrics") or {}
    if not all(m in live_metrics for m in GUARDED_METRICS):
        return True, "the live model has no holdout metrics"
    if not all(m in cand_metrics for m in GUARDED_METRICS):
        return False, "the candidate has no holdout metrics (too little data to evaluate it)"
    for metric in GUARDED_METRICS:
        floor = float(live_metrics[metric]) * (1.0 - tolerance)
        if float(cand_metrics[metric]) < floor - 1e-12:
            return False, (f"{metric} {float(cand_metrics[metric]):.4f} is more than {tolerance:.0%} below the live "
                           f"model's {float(live_metrics[metric]):.4f}")
    return True, "not worse than the live model within tolerance " + f"{tolerance:.0%}"


def live_record(registry: ModelRegistry, tenant_id: str) -> dict | None:
    live_id = registry.live_model_id(tenant_id)
    return registry.get_version(tenant_id, live_id) if live_id else None


def make_live(registry: ModelRegistry, tenant_id: str, model_id: str, now: float, reason: str) -> dict:
    """Points LIVE at model_id; the version it replaces becomes retired."""
    previous = registry.live_model_id(tenant_id)
    if previous == model_id:
        return registry.get_version(tenant_id, model_id) or {}
    fields = {"status": "live", "live_at": now, "promotion_reason": reason}
    if previous:
        fields["replaced_model_id"] = previous
    registry.update_version(tenant_id, model_id, fields)
    registry.set_live(tenant_id, model_id, now)
    if previous:
        try:
            registry.update_version(tenant_id, previous, {"status": "retired", "retired_at": now})
        except NotFoundError:
            pass  # a LIVE pointer to a version row that no longer exists: nothing to retire
    logger.info("model is live", extra={"tenant_id": tenant_id, "model_id": model_id, "replaced": previous,
                                        "reason": reason})
    return registry.get_version(tenant_id, model_id) or {}


def _servable(row: dict) -> bool:
    return row.get("status") in ("candidate", "live", "retired") and not row.get("artefact_deleted") \
        and bool(row.get("artefact"))


def get_model(registry: ModelRegistry, tenant_id: str, model_id: str) -> dict:
    row = registry.get_version(tenant_id, model_id) if model_id.startswith(ModelRegistry.VERSION_PREFIX) else None
    if row is None:
        raise ModelNotFoundError(f"model {model_id!r} not found")
    return row


def promote(registry: ModelRegistry, tenant_id: str, model_id: str, now: float | None = None) -> dict:
    """Operator promotion of a candidate or retired version (bypasses the guard, by intent)."""
    row = get_model(registry, tenant_id, model_id)
    if not _servable(row):
        raise ConflictError(f"model {model_id!r} is {row.get('status')}"
                            f"{' and its artefact was deleted' if row.get('artefact_deleted') else ''}; "
                            "it cannot be made live")
    return make_live(registry, tenant_id, model_id, time.time() if now is None else now, "promoted by an operator")


def rollback(registry: ModelRegistry, tenant_id: str, model_id: str, now: float | None = None) -> dict:
    """Makes the version live before `model_id` (which must be live) live again; returns it."""
    row = get_model(registry, tenant_id, model_id)
    if registry.live_model_id(tenant_id) != model_id:
        raise ConflictError(f"model {model_id!r} is not live; only the live model can be rolled back")
    versions = {v["model_id"]: v for v in registry.versions(tenant_id)}
    target = versions.get(row.get("replaced_model_id", ""))
    if target is None or not _servable(target):
        older = [v for v in versions.values() if v.get("status") == "retired" and _servable(v)
                 and v.get("version", 0) < row.get("version", 0)]
        target = max(older, key=lambda v: v.get("version", 0), default=None)
    if target is None:
        raise ConflictError(f"model {model_id!r} has no earlier version to roll back to")
    now = time.time() if now is None else now
    live = make_live(registry, tenant_id, target["model_id"], now, f"rollback from {model_id}")
    registry.update_version(tenant_id, model_id, {"rolled_back_at": now})
    return live


def apply_retention(registry: ModelRegistry, artefacts: ArtefactStore, tenant_id: str, keep: int,
                    now: float | None = None) -> list[str]:
    """Deletes the artefacts of all but the newest `keep` versions (never the live one, never one
    still training) and marks those rows `artefact_deleted`; returns their model ids."""
    live_id = registry.live_model_id(tenant_id)
    versions = registry.versions(tenant_id)
    old = versions[:-keep] if keep > 0 else versions
    deleted = []
    for row in old:
        if row["model_id"] == live_id or row.get("status") == "training" or row.get("artefact_deleted"):
            continue
        artefacts.delete(tenant_id, row["model_id"])
        registry.update_version(tenant_id, row["model_id"], {"artefact_deleted": True, "artefact": None,
                                                             "deleted_at": time.time() if now is None else now})
        deleted.append(row["model_id"])
    if deleted:
        logger.info("old model artefacts deleted", extra={"tenant_id": tenant_id, "model_ids": deleted, "keep": keep})
    return deleted


def public_view(row: dict, live_id: str | None) -> dict:
    """A version row as the API shows it (internal fields dropped)."""
    fields = ("model_id", "algorithm", "version", "status", "created_at", "finished_at", "live_at", "retired_at",
              "metrics", "artefact", "artefact_deleted", "promotion_reason", "replaced_model_id", "interactions",
              "error")
    out = {k: row[k] for k in fields if k in row}
    out["live"] = row["model_id"] == live_id
    return out
