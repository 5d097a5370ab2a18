"""Training: every tenant with interactions newer than its last model gets a new evaluated version,
made live by the promotion guard."""

from __future__ import annotations

import secrets
import string
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from ..catalogue.snapshot import write_snapshot
from ..catalogue.store import ItemStore
from ..engine.als import ALSParams
from ..engine.artefact import MANIFEST, save_model
from ..engine.ease import EaseParams
from ..engine.params import TrainParams
from ..engine.recommender import RecommenderModel
from ..engine.training import TrainingData, train_model
from ..events.store import InteractionStore
from ..observability import logger
from .artefacts import ArtefactStore
from .evaluation import evaluate_on_holdout, split_holdout
from .markers import TrainedMarkerStore
from .promotion import apply_retention, promote_if_not_worse
from .registry import ModelRegistry

_ALPHABET = string.ascii_letters + string.digits
Progress = Callable[[dict], None]


def new_model_id(algorithm: str, version: int) -> str:
    """`model_<algorithm>-v<N>_<random>`, the id format clients already know."""
    return f"model_{algorithm}-v{version}_{''.join(secrets.choice(_ALPHABET) for _ in range(20))}"


def read_training_data(store: InteractionStore, tenant_id: str, progress: Callable[[dict], None] | None = None,
                       excluded_users: frozenset[str] = frozenset()) -> tuple[TrainingData, str]:
    """The tenant's events as training data, less those of `excluded_users` (users the portal marked
    inactive: their events are not trained on, though they count as read)."""
    users, items, weights, stamps, last_sk = [], [], [], [], ""
    contexts: list[dict | None] = []  # what context-aware ranking learns from (None: the event had none)
    for n, row in enumerate(store.tenant_events(tenant_id), start=1):
        last_sk = row["sk"]
        if excluded_users and row["user_id"] in excluded_users:
            continue
        users.append(row["user_id"])
        items.append(row["item_id"])
        weights.append(float(row["weight"]))
        stamps.append(float(row.get("ts", 0.0)))
        contexts.append(row.get("context") or None)
        if progress and n % 50_000 == 0:
            progress({"stage": "read", "events": n})
    data = TrainingData(users, items, np.asarray(weights, dtype=np.float64), np.asarray(stamps, dtype=np.float64),
                        contexts)
    return data, last_sk


@dataclass(frozen=True)
class TrainingPolicy:
    """How a new version is judged and how many are kept (PROMOTION_TOLERANCE, KEEP_MODEL_VERSIONS)."""

    tolerance: float = 0.02
    keep_versions: int = 5


@dataclass(frozen=True)
class TrainingStores:
    """What a training reads (events, catalogue, how far it got last time) and writes (registry, S3)."""

    interactions: InteractionStore
    items: ItemStore | None
    registry: ModelRegistry
    artefacts: ArtefactStore
    markers: TrainedMarkerStore
    # tenant id -> the users whose events are not trained on (recengine.portal.users.inactive_user_ids)
    excluded_users: Callable[[str], frozenset[str]] | None = None


def _params_of(model_meta: dict) -> TrainParams:
    """The hyper-parameters a model was trained with (so the full fit need not tune again)."""
    p = model_meta["params"]
    return TrainParams(als=ALSParams(**p["als"]), ease=EaseParams(**p["ease"]) if p.get("ease") else None,
                       w_ease=float(p["w_ease"]))


@dataclass(frozen=True)
class FittedModel:
    """A trained and evaluated model, not yet stored."""

    model: RecommenderModel
    metrics: dict  # holdout metrics, train_s and data counts, as stored with the version
    stages_s: dict[str, float]  # wall time per stage (the scale bench reports them)


def _tagged(progress: Progress, **tags: str) -> Progress:
    """Tells the holdout fit's progress records from the full fit's (both report ALS iterations)."""
    return lambda info: progress({**info, **tags})


def fit_tenant_model(data: TrainingData, model_id: str, *, params: TrainParams | None = None,
                     tune_budget_s: float = 90.0, catalogue: Mapping[str, Mapping] | None = None,
                     progress: Progress | None = None) -> FittedModel:
    """Everything a training does between reading the events and storing the artefact, with no
    store involved, so that bench/train_scale.py measures exactly what the train function runs.

    Evaluation: the last 20% of events (by time) of users with >= 5 events are held out; a model
    with the same settings is fitted on the rest (tuning runs there) and scored on them. The
    published model is then fitted on everything with the hyper-parameters that tuning chose."""
    emit: Progress = progress or (lambda info: None)
    stages: dict[str, float] = {}
    mark = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        stages[stage] = round(now - mark, 3)
        mark = now

    holdout = split_holdout(data)
    lap("holdout_split")
    metrics: dict = {"eval_users": 0}
    if holdout.users:
        emit({"stage": "evaluate", "eval_users": holdout.users, "holdout_events": holdout.held_events})
        eval_model = train_model(holdout.train, model_id, params, _tagged(emit, fit="holdout"),
                                 tune_budget_s=tune_budget_s, catalogue=catalogue)
        lap("eval_fit")
        metrics = evaluate_on_holdout(eval_model, holdout)
        params = _params_of(eval_model.meta)
        lap("evaluate")
        emit({"stage": "evaluated", **metrics})
        # Freed before the full fit: the peak is then one model and one copy of the events, not two.
        del eval_model
    del holdout
    model = train_model(data, model_id, params, _tagged(emit, fit="full"), tune_budget_s=tune_budget_s,
                        catalogue=catalogue)
    lap("full_fit")
    metrics.update({"train_s": stages["full_fit"], "interactions": len(data), "users": model.meta.get("users"),
                    "items": model.n_items})
    return FittedModel(model, metrics, stages)


def train_tenant(stores: TrainingStores, tenant_id: str, *, force: bool = False, params: TrainParams | None = None,
                 tune_budget_s: float = 90.0, policy: TrainingPolicy | None = None,
                 progress: Progress | None = None) -> dict | None:
    """Trains, evaluates (see fit_tenant_model) and registers one tenant's model; it goes live only
    past the promotion guard. None when there is nothing new to learn from.

    `progress` (the admin CLI's progress bar, a job's heartbeat) gets every progress record the log
    gets, with the elapsed time; an error in it is logged and never fails the training."""
    policy = policy or TrainingPolicy()
    interactions, items, registry, artefacts = stores.interactions, stores.items, stores.registry, stores.artefacts
    latest = interactions.latest_sort_key(tenant_id)
    if not latest or (latest <= stores.markers.trained_marker(tenant_id) and not force):
        return None
    log_extra = {"tenant_id": tenant_id}
    started = time.time()

    def report(info: dict) -> None:
        info = {**info, "elapsed_s": round(time.time() - started, 2)}
        logger.info("training progress", extra={**log_extra, **info})
        if progress is not None:
            try:
                progress(info)
            except Exception:  # noqa: BLE001 - a display or heartbeat must not cost the training
                logger.warning("progress callback failed", exc_info=True, extra=log_extra)

    report({"stage": "read"})
    excluded = stores.excluded_users(tenant_id) if stores.excluded_users is not None else frozenset()
    data, last_sk = read_training_data(interactions, tenant_id, report, excluded)
    # Active catalogue items feed content vectors; those without interactions become cold items. Every
    # row (inactive ones too) goes into the artefact as the snapshot serving reads the catalogue from;
    # its time is taken before the read, so that every write after it is in the change record.
    snapshot_at = time.time()
    rows = list(items.iter_items(tenant_id)) if items else None
    catalogue = {row["item_id"]: row.get("metadata", {}) for row in rows or () if row.get("active", True)}
    report({"stage": "loaded", "events": len(data), "catalogue_items": len(catalogue)})
    version = registry.next_version(tenant_id)
    model_id = new_model_id("hybrid", version)
    record = {"model_id": model_id, "algorithm": "hybrid", "version": version, "status": "training",
              "created_at": started, "interactions": len(data)}
    registry.put_version(tenant_id, record)
    try:
        fitted = fit_tenant_model(data, model_id, params=params, tune_budget_s=tune_budget_s, catalogue=catalogue,
                                  progress=report)
        model = fitted.model
        metrics = {**fitted.metrics, "total_s": round(time.time() - started, 3)}
        report({"stage": "upload", "model_id": model_id})
        with tempfile.TemporaryDirectory() as tmp:
            files = save_model(model, Path(tmp))
            if rows is not None:
                files.append(write_snapshot(Path(tmp), snapshot_at, rows))
            files.sort(key=lambda path: path.name == MANIFEST)  # the manifest is uploaded last
            location = artefacts.upload(tenant_id, model_id, files)
    except Exception as exc:
        registry.put_version(tenant_id, {**record, "status": "failed", "finished_at": time.time(),
                                         "error": type(exc).__name__})
        logger.exception("training failed", extra={**log_extra, "model_id": model_id})
        raise
    record = {**record, "status": "candidate", "artefact": location, "finished_at": time.time(), "meta": model.meta,
              "metrics": metrics}
    registry.put_version(tenant_id, record)
    record, reason = promote_if_not_worse(registry, tenant_id, record, policy.tolerance, time.time())
    stores.markers.set_trained_marker(tenant_id, last_sk, time.time())
    apply_retention(registry, artefacts, tenant_id, policy.keep_versions)
    logger.info("model trained", extra={**log_extra, "model_id": model_id, "status": record["status"],
                                        "items": model.n_items, "interactions": len(data), **metrics,
                                        "elapsed_s": round(time.time() - started, 2)})
    report({"stage": "done", "model_id": model_id, "status": record["status"],
            "reason": record.get("promotion_reason") or reason})
    return record
