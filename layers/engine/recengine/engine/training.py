"""Training: interaction events in, a servable model out (collaborative fits, content, popularity, context)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from .als import ALSParams, Progress, fit_als
from .content import DIM as CONTENT_DIM
from .content import content_matrix, content_to_factors
from .context import ContextParams
from .context_weights import add_context, plan_context
from .ease import fit_ease
from .errors import EmptyTrainingSetError
from .params import TrainParams
from .popularity import popularity_scores
from .recommender import Blend, RecommenderModel
from .sparse import CSR
from .tuning import blend_scales, spread, tune

# The trending baseline: popularity that halves every 3 days, against popularity's 30.
TRENDING_HALF_LIFE_DAYS = 3.0


@dataclass(frozen=True)
class TrainingData:
    """Interaction events as parallel arrays; ids are the tenant's own strings. `contexts` (one per
    event, None for events without) is what context-aware ranking learns from."""

    user_ids: Sequence[str]
    item_ids: Sequence[str]
    weights: np.ndarray
    timestamps: np.ndarray  # epoch seconds
    contexts: Sequence[Mapping[str, Any] | None] | None = None

    def __len__(self) -> int:
        return len(self.item_ids)


def train_model(data: TrainingData, model_id: str, params: TrainParams | ALSParams | None = None,
                progress: Progress | None = None, tune_budget_s: float = 90.0, seed: int = 0,
                catalogue: Mapping[str, Mapping[str, Any]] | None = None,
                context_params: ContextParams | None = None) -> RecommenderModel:
    """Fits the collaborative models, content vectors and popularity; returns a servable model.

    With no `params`, hyper-parameters are chosen on a validation split of this data within
    `tune_budget_s` (see tuning.py); an `ALSParams` alone trains ALS without the item-item model.
    `catalogue` (item id -> metadata) adds content vectors, and makes catalogue items without any
    interaction recommendable: their collaborative vector is mapped from their content.
    Events' `contexts` train the context model; its weights are chosen on a validation split cut
    from the collaborative fit (see context_weights.py) and stay 0 where context does not help."""
    if len(data) == 0:
        raise EmptyTrainingSetError("no interactions to train on")
    started = time.perf_counter()
    catalogue = catalogue or {}
    users, user_idx = np.unique(np.asarray(data.user_ids, dtype=object).astype(str), return_inverse=True)
    event_items = np.asarray(data.item_ids, dtype=object).astype(str)
    items = np.unique(np.concatenate([event_items, np.asarray(list(catalogue), dtype=str)]))
    item_idx = np.searchsorted(items, event_items)
    weights = np.asarray(data.weights, dtype=np.float64)
    timestamps = np.asarray(data.timestamps)
    matrix = CSR.from_coo(user_idx, item_idx, weights, (users.size, items.size))
    if progress:
        progress({"stage": "matrix", "users": int(users.size), "items": int(items.size),
                  "interactions": len(data), "nnz": matrix.nnz})
    plan = None
    if data.contexts is not None:
        if len(data.contexts) != len(data):
            raise ValueError("TrainingData.contexts must have one entry (or None) per event")
        plan = plan_context(data.contexts, user_idx, item_idx, weights, timestamps, users.size, items.size,
                            context_params or ContextParams(), seed)
        if plan.held.size:
            matrix = plan.matrix  # the collaborative parts never see the validation events
    tuning: dict | None = None
    if params is None:
        params, tuning = tune(matrix, tune_budget_s, seed, progress)
    elif isinstance(params, ALSParams):
        params = TrainParams(als=params, ease=None, w_ease=0.0)
    factors = fit_als(matrix, params.als, progress)
    ease = fit_ease(matrix, params.ease, progress) if params.ease is not None and params.w_ease > 0 else None

    content, idf = content_matrix([catalogue.get(i, {}) for i in items.tolist()])
    warm = np.bincount(matrix.indices, minlength=items.size) > 0
    has_content = np.linalg.norm(content, axis=1) > 0
    fit_rows = warm & has_content
    content_map = (content_to_factors(content[fit_rows], factors.item_factors[fit_rows]) if fit_rows.sum() >= 2
                   else np.zeros((CONTENT_DIM, params.als.factors), np.float32))
    cold = ~warm & has_content
    factors.item_factors[cold] = content[cold] @ content_map

    scale_als, scale_ease = blend_scales(matrix, factors, ease, seed=seed)
    scale_content = _content_scale(matrix, content, seed)
    popularity = popularity_scores(item_idx, weights, timestamps, items.size)
    trending = popularity_scores(item_idx, weights, timestamps, items.size, TRENDING_HALF_LIFE_DAYS)
    meta = {"algorithm": "hybrid-als-ease" if ease is not None else "als", "params": params.as_dict(),
            "users": int(users.size), "items": int(items.size), "cold_items": int(cold.sum()),
            "interactions": len(data), "nnz": matrix.nnz, "train_s": round(time.perf_counter() - started, 3)}
    if tuning is not None:
        meta["tuning"] = {k: v for k, v in tuning.items() if k != "tried"}
    blend = Blend(params.w_ease if ease is not None else 0.0, scale_als, scale_ease,
                  Blend.w_content if has_content.any() else 0.0, scale_content)
    model = RecommenderModel(model_id, items.tolist(), factors.item_factors, factors.gram(), popularity,
                             params.als.alpha, meta, ease=ease, blend=blend, trending=trending, content=content,
                             content_idf=idf, content_map=content_map)
    if plan is not None:
        add_context(model, plan, data.contexts, user_idx, item_idx, weights, timestamps, context_params or
                    ContextParams(), seed, progress)
        meta["train_s"] = round(time.perf_counter() - started, 3)
    return model


def _content_scale(matrix: CSR, content: np.ndarray, seed: int, sample: int = 300) -> float:
    """The typical per-user spread of content scores, so that the content weight means the same
    share of the blend on every tenant."""
    rng = np.random.default_rng(seed)
    users = np.flatnonzero(np.diff(matrix.indptr) > 0)
    users = rng.choice(users, min(sample, users.size), replace=False) if users.size else users
    spreads = []
    for u in users:
        hist, w = matrix.row(int(u))
        profile = (content[hist] * w[:, None]).sum(axis=0)
        norm = float(np.linalg.norm(profile))
        if norm > 0:
            spreads.append(float(np.std(content @ (profile / norm))))
    return spread(spreads)
