"""One fit on Spark: engine.training.train_model's steps, with the heavy passes distributed (fits.py)
and the rest the engine's own code on the driver; the same RecommenderModel comes out."""

from __future__ import annotations

import time
from typing import Any, Mapping

import numpy as np
from pyspark.sql import DataFrame

from recengine.engine.als import ALSParams, Progress
from recengine.engine.content import DIM as CONTENT_DIM
from recengine.engine.content import content_matrix, content_to_factors
from recengine.engine.ease import EaseParams, ease_inverse, empty_weights, prune_inverse
from recengine.engine.errors import EmptyTrainingSetError
from recengine.engine.params import TrainParams
from recengine.engine.recommender import Blend, RecommenderModel
from recengine.engine.training import _content_scale
from recengine.engine.tuning import blend_scales, tune

from . import fits


def fit_ease_distributed(pairs: DataFrame, counts: np.ndarray, params, n_items: int, partitions: int):
    """engine.ease.fit_ease with the Gram matrix counted in Spark; the inverse and pruning are the
    engine's (ease_inverse, prune_inverse) on the driver."""
    kept = fits.kept_items(counts, params)
    if kept.size < 2:
        return empty_weights(n_items), 0
    g = fits.distributed_gram(pairs, kept, n_items, partitions)
    diag = np.diag(g).astype(np.float64)
    p = ease_inverse(g, diag, params)
    weights = prune_inverse(p, kept, diag, n_items, params.pop_norm, params.pop_penalty,
                            (params.top_k,))[min(params.top_k, kept.size - 1)]
    return weights, int(kept.size)


def fit_model(events: DataFrame, items: np.ndarray, model_id: str, params: TrainParams | None, *, seed: int,
              tune_budget_s: float, catalogue: Mapping[str, Mapping[str, Any]], partitions: int,
              progress: Progress | None = None) -> tuple[RecommenderModel, dict]:
    """A servable model from coded events (u, i, user_id, weight, ts); (model, Spark-side facts)."""
    started = time.perf_counter()
    emit: Progress = progress or (lambda info: None)
    pairs = fits.aggregate(events).persist()
    nnz = pairs.count()
    if nnz == 0:
        raise EmptyTrainingSetError("no interactions to train on")
    n_items = int(items.size)
    interactions = events.count()
    n_users = pairs.select("u").distinct().count()
    counts = fits.item_counts(pairs, n_items)
    emit({"stage": "matrix", "users": n_users, "items": n_items, "interactions": interactions, "nnz": nnz})
    sample = fits.driver_sample(events, nnz, n_items, seed)
    tuning: dict | None = None
    if params is None:
        params, tuning = tune(sample, tune_budget_s, seed, progress)
    elif isinstance(params, ALSParams):
        params = TrainParams(als=params, ease=None, w_ease=0.0)
    t = time.perf_counter()
    factors = fits.fit_mllib_als(pairs, params.als, n_items, nnz, n_users, partitions)
    facts: dict = {"als_s": round(time.perf_counter() - t, 3), "driver_sample_users": int(sample.shape[0]),
                   "mllib_reg_param": fits.mllib_regularization(params.als, nnz, n_users)}
    emit({"stage": "als", "trainer": "mllib", "elapsed_s": facts["als_s"]})
    ease = None
    if params.ease is not None and params.w_ease > 0:
        t = time.perf_counter()
        ease, kept = fit_ease_distributed(pairs, counts, params.ease, n_items, partitions)
        facts.update(ease_s=round(time.perf_counter() - t, 3), ease_items=kept)
        emit({"stage": "ease", "items": kept, "nnz": ease.nnz, "elapsed_s": facts["ease_s"]})

    content, idf = content_matrix([catalogue.get(i, {}) for i in items.tolist()])
    warm = counts > 0
    has_content = np.linalg.norm(content, axis=1) > 0
    fit_rows = warm & has_content
    content_map = (content_to_factors(content[fit_rows], factors.item_factors[fit_rows]) if fit_rows.sum() >= 2
                   else np.zeros((CONTENT_DIM, params.als.factors), np.float32))
    cold = ~warm & has_content
    factors.item_factors[cold] = content[cold] @ content_map

    scale_als, scale_ease = blend_scales(sample, factors, ease, seed=seed)
    scale_content = _content_scale(sample, content, seed)
    popularity, trending = fits.decayed_popularity(events, n_items)
    pairs.unpersist()
    meta = {"algorithm": "hybrid-als-ease" if ease is not None else "als", "params": params.as_dict(),
            "users": int(n_users), "items": n_items, "cold_items": int(cold.sum()),
            "interactions": int(interactions), "nnz": int(nnz), "train_s": round(time.perf_counter() - started, 3)}
    if tuning is not None:
        meta["tuning"] = {k: v for k, v in tuning.items() if k != "tried"}
    blend = Blend(params.w_ease if ease is not None else 0.0, scale_als, scale_ease,
                  Blend.w_content if has_content.any() else 0.0, scale_content)
    model = RecommenderModel(model_id, items.tolist(), factors.item_factors, factors.gram(), popularity,
                             params.als.alpha, meta, ease=ease, blend=blend, trending=trending, content=content,
                             content_idf=idf, content_map=content_map)
    return model, facts


def params_of(meta: dict) -> TrainParams:
    """The hyper-parameters a model was fitted with (models.training._params_of's rule; that module
    imports the AWS stores, which the job does not need on the cluster)."""
    p = meta["params"]
    return TrainParams(als=ALSParams(**p["als"]), ease=EaseParams(**p["ease"]) if p.get("ease") else None,
                       w_ease=float(p["w_ease"]))
