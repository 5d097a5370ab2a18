"""The served model: item factors + popularity + retrieval index, trained from interaction
events, saved as a directory of plain files (npy, annoy, json) and loaded with mmap."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .als import ALSParams, Progress, fit_als, fold_in
from .content import DIM as CONTENT_DIM
from .content import content_matrix, content_to_factors, embed, raw_vector
from .context import ContextModel, ContextParams, EventFeatures, context_scale, event_features, gather
from .ease import EaseParams, ease_scores, fit_ease
from .errors import ArtefactError, EmptyTrainingSetError
from .index import EXACT_LIMIT, VectorIndex, build_annoy, load_annoy, top_k
from .popularity import popularity_scores
from .sparse import CSR

FORMAT_VERSION = 3
READABLE_FORMATS = (2, 3)  # 2: before context (no context files; the blend without context weights)
MANIFEST = "manifest.json"
CONTEXT_FILES = ("context_features.json", "context_indptr.npy", "context_indices.npy", "context_data.npy")
ARTEFACT_FILES = (MANIFEST, "item_ids.json", "item_factors.npy", "gram.npy", "popularity.npy", "trending.npy",
                  "content.npy", "content_idf.npy", "content_map.npy",
                  "ease_indptr.npy", "ease_indices.npy", "ease_data.npy", "items_dot.ann", "items_angular.ann",
                  *CONTEXT_FILES)
# Files that a readable older format lacks: a download of such an artefact must not require them.
OPTIONAL_ARTEFACT_FILES = CONTEXT_FILES
ALGORITHMS = ("hybrid", "collaborative", "content-based", "popular", "trending")
TRENDING_HALF_LIFE_DAYS = 3.0
# Popularity added to every personalised score: breaks ties (zero vectors) the same way on every path.
TIE_BREAK = 1e-6
# Context weights tried on the validation split: additive (in units of the context score's spread)
# for personalised rankings, and the exponent of the lift for popular/trending.
CONTEXT_WEIGHTS = (0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5)
CONTEXT_POPULAR_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)


@dataclass(frozen=True)
class TrainParams:
    """What to fit: ALS always; the sparse EASE item-item model when `ease` is set; `w_ease` is the
    share of the EASE score in the blend (0 = ALS only, 1 = EASE only where it has weights)."""

    als: ALSParams = ALSParams()
    ease: EaseParams | None = EaseParams()
    w_ease: float = 0.7

    def as_dict(self) -> dict:
        return {"als": self.als.as_dict(), "ease": self.ease.as_dict() if self.ease else None, "w_ease": self.w_ease}


@dataclass(frozen=True)
class Blend:
    """Linear blend of the two collaborative scores, each divided by its typical spread across
    users (measured at training time) so that one weight means the same on every request."""

    w_ease: float = 0.0
    scale_als: float = 1.0
    scale_ease: float = 1.0
    w_content: float = 0.15  # share of the content score in the hybrid (0 in "collaborative")
    scale_content: float = 1.0
    # Request context: w_context / scale_context * summed log-lift is added to personalised scores;
    # popular and trending scores are multiplied by exp(w_context_popular * summed log-lift), i.e.
    # become the popularity in that context at 1. Chosen on a validation split; 0 = context unused.
    w_context: float = 0.0
    scale_context: float = 1.0
    w_context_popular: float = 0.0


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


@dataclass(frozen=True)
class Ranked:
    """One ranked list: item ids with scores, and how it was produced."""

    items: list[tuple[str, float]]
    source: str  # "collaborative" or "popular"
    known_history: int = 0


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


@dataclass
class RecommenderModel:
    model_id: str
    item_ids: list[str]
    item_factors: np.ndarray
    gram: np.ndarray
    popularity: np.ndarray
    alpha: float
    meta: dict = field(default_factory=dict)
    index: VectorIndex | None = None
    ease: CSR | None = None
    blend: Blend = Blend()
    trending: np.ndarray | None = None
    content: np.ndarray | None = None  # (n, CONTENT_DIM) unit vectors
    content_idf: np.ndarray | None = None
    content_map: np.ndarray | None = None  # (CONTENT_DIM, k): content -> collaborative factors
    context_model: ContextModel | None = None  # None: the model ignores request context

    def __post_init__(self) -> None:
        self.item_index = {item: i for i, item in enumerate(self.item_ids)}
        if self.index is None:
            self.index = VectorIndex(self.item_factors, _unit_rows(self.item_factors))
        n, k = len(self.item_ids), self.item_factors.shape[1]
        if self.ease is None:
            self.ease = CSR(np.zeros(n + 1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32), (n, n))
        if self.trending is None:
            self.trending = self.popularity
        if self.content is None:
            self.content = np.zeros((n, CONTENT_DIM), np.float32)
            self.content_idf = np.ones(CONTENT_DIM, np.float32)
            self.content_map = np.zeros((CONTENT_DIM, k), np.float32)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    # ------------------------------------------------------------------ serving
    def _indices(self, items: Iterable[str]) -> np.ndarray:
        return np.fromiter((self.item_index[i] for i in items if i in self.item_index), dtype=np.int64)

    def _history(self, history: Sequence[str], weights: Sequence[float]) -> tuple[np.ndarray, np.ndarray, int]:
        """Known history items (unique) with summed weights, and how many events were known."""
        pairs = [(self.item_index[i], w) for i, w in zip(history, weights) if i in self.item_index]
        if not pairs:
            return np.zeros(0, np.int64), np.zeros(0), 0
        idx = np.array([p[0] for p in pairs], dtype=np.int64)
        w = np.array([p[1] for p in pairs], dtype=np.float64)
        # Repeated items: sum their weights so the fold-in sees one confidence per item.
        uniq, inv = np.unique(idx, return_inverse=True)
        return uniq, np.bincount(inv, weights=w), len(pairs)

    def user_vector(self, history: Sequence[str], weights: Sequence[float]) -> tuple[np.ndarray, int]:
        """Folds a history into a user vector; returns (vector, n_known)."""
        uniq, summed, known = self._history(history, weights)
        if not known:
            return np.zeros(self.item_factors.shape[1], dtype=np.float32), 0
        return fold_in(self.gram, self.item_factors, uniq, summed, self.alpha), known

    def _blend(self, als: np.ndarray, ease: np.ndarray | None) -> np.ndarray:
        b = self.blend
        scores = (1.0 - b.w_ease) / b.scale_als * als
        if ease is not None and b.w_ease > 0:
            scores = scores + b.w_ease / b.scale_ease * ease
        return scores

    def content_profile(self, uniq: np.ndarray, summed: np.ndarray) -> np.ndarray:
        profile = (self.content[uniq] * summed[:, None]).sum(axis=0)
        # float32 like the content matrix: a float64 profile would upcast all n x 256 on every request.
        return (profile / max(float(np.linalg.norm(profile)), 1e-12)).astype(np.float32)

    def _score_parts(self, uniq: np.ndarray, summed: np.ndarray, items: np.ndarray | None, algorithm: str
                     ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(collaborative, weighted content) scores of `items` (all when None); either may be None.
        For "content-based" the content part is the raw cosine, unweighted."""
        sel = slice(None) if items is None else items
        content = None
        # A hybrid whose content weight is 0 skips the (items x 256) content product (most of its cost).
        if algorithm == "content-based" or (algorithm == "hybrid" and self.blend.w_content > 0):
            content = self.content[sel] @ self.content_profile(uniq, summed)
            if algorithm == "content-based":
                return None, content.astype(np.float64)
            content = self.blend.w_content / self.blend.scale_content * content
        query = fold_in(self.gram, self.item_factors, uniq, summed, self.alpha)
        ease = ease_scores(self.ease, uniq)[sel] if self.blend.w_ease > 0 else None
        return self._blend(self.item_factors[sel] @ query, ease), content

    def collaborative_scores(self, uniq: np.ndarray, summed: np.ndarray, items: np.ndarray | None = None,
                             algorithm: str = "collaborative") -> np.ndarray:
        """Scores of `items` (all items when None) for a known history under `algorithm`."""
        collaborative, content = self._score_parts(uniq, summed, items, algorithm)
        if collaborative is None:
            return content
        return collaborative if content is None else collaborative + content

    def context_terms(self, context: Mapping[str, Any] | None, personalised: bool, algorithm: str = "hybrid"
                      ) -> tuple[np.ndarray, np.ndarray] | None:
        """The context's effect as sparse (items, values): added to personalised scores, or factors
        multiplying popular/trending ones. None when it has none (no context, unknown features, a
        zero weight, or content-based ranking, which is about the items alone)."""
        if not context or self.context_model is None or algorithm == "content-based":
            return None
        b = self.blend
        weight = b.w_context if personalised else b.w_context_popular
        if weight <= 0:
            return None
        idx, lift = self.context_model.sparse(context)
        if idx.size == 0:
            return None
        return (idx, weight / b.scale_context * lift) if personalised else (idx, np.exp(weight * lift))

    def recommend(self, history: Sequence[str], weights: Sequence[float], n: int,
                  exclude: Iterable[str] = (), candidates: Sequence[str] | None = None,
                  algorithm: str = "hybrid", context: Mapping[str, Any] | None = None) -> Ranked:
        """Ranks up to n items for a user history; seen and excluded items never come back.

        `algorithm`: hybrid (collaborative + content), collaborative, content-based, popular or
        trending; without a known history the first three fall back to popular. `context` (the
        request's device, region, ...) moves items that did better in such a context up, for every
        algorithm but content-based, when the model learnt that context helps."""
        if algorithm not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {algorithm!r}")
        excluded = set(self._indices(exclude).tolist()) | set(self._indices(history).tolist())
        uniq, summed, known = self._history(history, weights)
        if algorithm in ("popular", "trending"):
            known = 0
        source = algorithm if known else ("trending" if algorithm == "trending" else "popular")
        baseline = self.trending if algorithm == "trending" else self.popularity
        ctx = self.context_terms(context, bool(known), algorithm)
        if candidates is not None:
            cand = np.array(sorted(set(self._indices(candidates).tolist()) - excluded), dtype=np.int64)
            if cand.size == 0:
                return Ranked([], source, known)
            if known:
                scores = self.collaborative_scores(uniq, summed, cand, algorithm) + TIE_BREAK * self.popularity[cand]
                if ctx is not None:
                    scores = scores + gather(*ctx, cand, self.n_items)
            else:
                scores = baseline[cand].astype(np.float64)
                if ctx is not None:
                    scores = scores * gather(*ctx, cand, self.n_items, fill=1.0)
            order = np.argsort(-scores, kind="stable")[:n]
            return Ranked([(self.item_ids[cand[i]], float(scores[i])) for i in order], source, known)
        if not known:
            scores = baseline.astype(np.float64)  # a copy
            if ctx is not None:
                scores[ctx[0]] *= ctx[1]
            if excluded:
                scores[list(excluded)] = -np.inf
            idx = top_k(scores, n)
            return Ranked([(self.item_ids[i], float(scores[i])) for i in idx], source, known)
        if self.index.exact or algorithm == "content-based":
            scores = self.collaborative_scores(uniq, summed, None, algorithm)
            scores += TIE_BREAK * self.popularity
            if ctx is not None:
                scores = scores.astype(np.float64)  # as on the other paths: float32 would round the lift
                scores[ctx[0]] += ctx[1]
            if excluded:
                scores[list(excluded)] = -np.inf
            idx = top_k(scores, n)
            return Ranked([(self.item_ids[i], float(scores[i])) for i in idx], source, known)
        # Large catalogue: ALS candidates from the index plus the items EASE and the context score,
        # blended exactly.
        query = fold_in(self.gram, self.item_factors, uniq, summed, self.alpha)
        ease = ease_scores(self.ease, uniq) if self.blend.w_ease > 0 else None
        boosted = ctx[0][ctx[1] > 0] if ctx is not None else None
        want = n + len(excluded)
        while True:
            ann_idx, _ = self.index.search(query, min(want * 2, self.n_items))
            pool = ann_idx if ease is None else np.union1d(ann_idx, top_k(np.where(ease != 0, ease, -np.inf), want))
            if boosted is not None and boosted.size:
                pool = np.union1d(pool, boosted[top_k(gather(*ctx, boosted, self.n_items), want)])
            pool = np.array([i for i in pool.tolist() if i not in excluded], dtype=np.int64)
            scores = self._blend(self.item_factors[pool] @ query, None if ease is None else ease[pool])
            if algorithm == "hybrid" and self.blend.w_content > 0:
                scores = scores + self.blend.w_content / self.blend.scale_content * (
                    self.content[pool] @ self.content_profile(uniq, summed))
            scores = scores + TIE_BREAK * self.popularity[pool]
            if ctx is not None:
                scores = scores + gather(*ctx, pool, self.n_items)
            order = np.argsort(-scores, kind="stable")[:n]
            if order.size >= n or want >= self.n_items:
                return Ranked([(self.item_ids[pool[i]], float(scores[i])) for i in order], source, known)
            want *= 2

    def contributions(self, history: Sequence[str], weights: Sequence[float], item_ids: Sequence[str],
                      algorithm: str = "hybrid", context: Mapping[str, Any] | None = None
                      ) -> list[dict[str, float] | None]:
        """The additive parts of each item's score (a `debug` response), so that a ranking can be
        explained: collaborative (ALS + item-item), content, context and popularity (the popular/
        trending baseline, or the tie-break of personalised scores); `total` is their sum and the
        score `recommend` gives the item for the same arguments. None for items the model lacks."""
        if algorithm not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {algorithm!r}")
        uniq, summed, known = self._history(history, weights)
        if algorithm in ("popular", "trending"):
            known = 0
        positions = [self.item_index.get(i) for i in item_ids]
        items = np.array([p for p in positions if p is not None], dtype=np.int64)
        ctx = self.context_terms(context, bool(known), algorithm)
        zeros = np.zeros(items.size)
        if known:
            collaborative, content = self._score_parts(uniq, summed, items, algorithm)
            collaborative = zeros if collaborative is None else collaborative
            content = zeros if content is None else content
            popularity = TIE_BREAK * self.popularity[items]
            context_part = zeros if ctx is None else gather(*ctx, items, self.n_items)
            # Summed in recommend's order, so that `total` is its score to the last bit.
            total = ((collaborative + content if algorithm != "content-based" else content) + popularity) + context_part
        else:
            baseline = self.trending if algorithm == "trending" else self.popularity
            popularity = baseline[items].astype(np.float64)
            total = popularity if ctx is None else popularity * gather(*ctx, items, self.n_items, fill=1.0)
            collaborative = content = zeros
            context_part = total - popularity
        rows = iter(zip(collaborative.tolist(), np.asarray(content, dtype=np.float64).tolist(),
                        context_part.tolist(), popularity.astype(np.float64).tolist(), total.tolist()))
        out: list[dict[str, float] | None] = []
        for p in positions:
            if p is None:
                out.append(None)
                continue
            c, t, x, pop, tot = next(rows)
            out.append({"collaborative": c, "content": t, "context": x, "popularity": pop, "total": tot})
        return out

    def similar(self, item_id: str, n: int, exclude: Iterable[str] = ()) -> list[tuple[str, float]]:
        """Items most similar to item_id by cosine of their factors; [] if the model lacks it."""
        i = self.item_index.get(item_id)
        if i is None:
            return []
        excluded = set(self._indices(exclude).tolist())
        want = n + len(excluded)
        while True:
            idx, sims = self.index.neighbours(i, min(want, self.n_items - 1))
            keep = [(self.item_ids[j], float(s)) for j, s in zip(idx, sims) if int(j) not in excluded]
            if len(keep) >= n or want >= self.n_items - 1:
                return keep[:n]
            want *= 2

    def popular(self, n: int, exclude: Iterable[str] = ()) -> list[tuple[str, float]]:
        return self.recommend([], [], n, exclude=exclude).items

    def explain(self, history: Sequence[str], items: Sequence[str], algorithm: str) -> list[str | None]:
        """For each recommended item, the history item that most explains it (None: no anchor)."""
        uniq = np.unique(self._indices(history))
        if uniq.size == 0 or algorithm in ("popular", "trending"):
            return [None] * len(items)
        vectors = self.content if algorithm == "content-based" else self.index.unit_vectors
        out: list[str | None] = []
        for item in items:
            i = self.item_index.get(item)
            if i is None:
                out.append(None)
                continue
            sims = np.asarray(vectors[uniq]) @ np.asarray(vectors[i])
            out.append(self.item_ids[int(uniq[int(np.argmax(sims))])] if sims.size and sims.max() > 0 else None)
        return out

    def embed_metadata(self, metadata: dict) -> np.ndarray:
        """Content vector of an item from its metadata, as training would have made it."""
        return embed(raw_vector(metadata), self.content_idf)

    # ------------------------------------------------------------------ persistence
    def save(self, directory: Path, n_trees: int = 32) -> list[Path]:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        np.save(directory / "item_factors.npy", np.ascontiguousarray(self.item_factors, dtype=np.float32))
        np.save(directory / "gram.npy", self.gram.astype(np.float64))
        np.save(directory / "popularity.npy", self.popularity.astype(np.float32))
        np.save(directory / "trending.npy", self.trending.astype(np.float32))
        np.save(directory / "content.npy", self.content.astype(np.float32))
        np.save(directory / "content_idf.npy", self.content_idf.astype(np.float32))
        np.save(directory / "content_map.npy", self.content_map.astype(np.float32))
        np.save(directory / "ease_indptr.npy", self.ease.indptr.astype(np.int64))
        np.save(directory / "ease_indices.npy", self.ease.indices.astype(np.int32))
        np.save(directory / "ease_data.npy", self.ease.data.astype(np.float32))
        (directory / "item_ids.json").write_text(json.dumps(self.item_ids))
        context = (self.context_model or ContextModel.empty(self.n_items)).to_arrays()
        (directory / "context_features.json").write_text(json.dumps(context["features"]))
        for name in ("indptr", "indices", "data"):
            np.save(directory / f"context_{name}.npy", context[name])
        build_annoy(self.item_factors, "dot", directory / "items_dot.ann", n_trees)
        build_annoy(self.index.unit_vectors, "angular", directory / "items_angular.ann", n_trees)
        manifest = {"format_version": FORMAT_VERSION, "model_id": self.model_id, "alpha": self.alpha,
                    "n_items": self.n_items, "factors": int(self.item_factors.shape[1]), "meta": self.meta,
                    "blend": asdict(self.blend)}
        # The manifest goes last: its presence means the directory is complete.
        (directory / MANIFEST).write_text(json.dumps(manifest, sort_keys=True))
        return [directory / name for name in ARTEFACT_FILES]

    @classmethod
    def load(cls, directory: Path, exact_limit: int = EXACT_LIMIT) -> "RecommenderModel":
        directory = Path(directory)
        try:
            manifest = json.loads((directory / MANIFEST).read_text())
            version = manifest.get("format_version")
            if version not in READABLE_FORMATS:
                raise ArtefactError(f"unsupported artefact format {manifest.get('format_version')!r}")
            item_ids = json.loads((directory / "item_ids.json").read_text())
            factors = np.load(directory / "item_factors.npy", mmap_mode="r")
            gram = np.load(directory / "gram.npy")
            popularity = np.load(directory / "popularity.npy", mmap_mode="r")
            n, k = manifest["n_items"], manifest["factors"]
            ease = CSR(np.load(directory / "ease_indptr.npy"), np.load(directory / "ease_indices.npy", mmap_mode="r"),
                       np.load(directory / "ease_data.npy", mmap_mode="r"), (n, n))
            if factors.shape != (n, k) or len(item_ids) != n or popularity.shape != (n,) or gram.shape != (k, k):
                raise ArtefactError("artefact arrays disagree with the manifest")
            if ease.indptr.shape != (n + 1,) or ease.indices.shape != ease.data.shape or ease.indptr[-1] != ease.nnz:
                raise ArtefactError("item-item weights disagree with the manifest")
            blend = Blend(**manifest["blend"])
            trending = np.load(directory / "trending.npy", mmap_mode="r")
            content = np.load(directory / "content.npy", mmap_mode="r")
            content_idf = np.load(directory / "content_idf.npy")
            content_map = np.load(directory / "content_map.npy")
            if trending.shape != (n,) or content.shape != (n, CONTENT_DIM) or content_map.shape != (CONTENT_DIM, k):
                raise ArtefactError("content arrays disagree with the manifest")
            context_model = None
            if version >= 3:
                context_model = ContextModel.from_arrays(
                    json.loads((directory / "context_features.json").read_text()),
                    # Small (features x top_k), and read row by row per request: in memory, not mmap.
                    np.load(directory / "context_indptr.npy"), np.load(directory / "context_indices.npy"),
                    np.load(directory / "context_data.npy"), n)
                if not context_model.features:
                    context_model = None
            unit = _unit_rows(np.asarray(factors))
            dot_index = angular_index = None
            if n > exact_limit:
                dot_index = load_annoy(directory / "items_dot.ann", k, "dot")
                angular_index = load_annoy(directory / "items_angular.ann", k, "angular")
                if dot_index.get_n_items() != n or angular_index.get_n_items() != n:
                    raise ArtefactError("annoy index size disagrees with the manifest")
        except ArtefactError:
            raise
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ArtefactError(f"cannot load model artefact: {exc}") from exc
        index = VectorIndex(factors, unit, dot_index, angular_index, exact_limit)
        return cls(manifest["model_id"], item_ids, factors, gram, popularity, float(manifest["alpha"]),
                   manifest.get("meta", {}), index, ease, blend, trending, content, content_idf, content_map,
                   context_model)


def train_model(data: TrainingData, model_id: str, params: "TrainParams | ALSParams | None" = None,
                progress: Progress | None = None, tune_budget_s: float = 90.0, seed: int = 0,
                catalogue: Mapping[str, Mapping[str, Any]] | None = None,
                context_params: ContextParams | None = None) -> RecommenderModel:
    """Fits the collaborative models, content vectors and popularity; returns a servable model.

    With no `params`, hyper-parameters are chosen on a validation split of this data within
    `tune_budget_s` (see tuning.py); an `ALSParams` alone trains ALS without the item-item model.
    `catalogue` (item id -> metadata) adds content vectors, and makes catalogue items without any
    interaction recommendable: their collaborative vector is mapped from their content.
    Events' `contexts` train the context model; its weights are chosen on a validation split cut
    from the collaborative fit (see `_plan_context`) and stay 0 where context does not help."""
    from .tuning import blend_scales, tune

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
        plan = _plan_context(data.contexts, user_idx, item_idx, weights, timestamps, users.size, items.size,
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
        _add_context(model, plan, data.contexts, user_idx, item_idx, weights, timestamps, context_params or
                     ContextParams(), seed, progress)
        meta["train_s"] = round(time.perf_counter() - started, 3)
    return model


@dataclass
class _ContextPlan:
    """The context model fitted on every event, and the validation events for its weights."""

    events: EventFeatures
    model: ContextModel | None
    held: np.ndarray  # validation event positions (empty: no weight is chosen)
    keep: np.ndarray  # per-event mask: not a validation event
    matrix: CSR | None  # user x item without the validation events
    report: dict


def _plan_context(contexts: Sequence[Mapping[str, Any] | None], user_idx: np.ndarray, item_idx: np.ndarray,
                  weights: np.ndarray, timestamps: np.ndarray, n_users: int, n_items: int, params: ContextParams,
                  seed: int) -> _ContextPlan:
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
        return _ContextPlan(events, None, nothing, keep, None, {"skipped": "no event carries context"})
    model = ContextModel.fit_events(events, item_idx, n_items, user_idx, params)
    report: dict[str, Any] = dict(model.info)
    if model.nnz == 0:
        report["skipped"] = "no context lift survives the shrinkage: context unused"
        return _ContextPlan(events, None, nothing, keep, None, report)
    has = np.unique(events.event)
    order = np.lexsort((has, np.asarray(timestamps, dtype=np.float64)[has], user_idx[has]))
    by_user = has[order]
    last = by_user[np.r_[user_idx[by_user][1:] != user_idx[by_user][:-1], True]]
    last = last[np.bincount(user_idx, minlength=n_users)[user_idx[last]] >= 3]
    rng = np.random.default_rng(seed)
    held = np.sort(rng.choice(last, min(params.eval_users, last.size), replace=False)) if last.size else nothing
    if held.size < params.min_eval_users:
        report["skipped"] = f"{held.size} validation events (< {params.min_eval_users}): context weight 0"
        return _ContextPlan(events, model, nothing, keep, None, report)
    keep[held] = False
    matrix = CSR.from_coo(user_idx[keep], item_idx[keep], weights[keep], (n_users, n_items))
    return _ContextPlan(events, model, held, keep, matrix, report)


def _add_context(model: RecommenderModel, plan: _ContextPlan, contexts: Sequence[Mapping[str, Any] | None],
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
    discount = 1.0 / np.log2(np.arange(10) + 2.0)
    personal, popular = [], []

    def ndcg(rank: int) -> float:
        return float(discount[rank]) if rank < 10 else 0.0

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
        personal.append([ndcg(rank(base, idx, base[idx] + c * lift, base[target] + c * lift_t))
                         for c in (weight / scale for weight in CONTEXT_WEIGHTS)])
        popular.append([ndcg(rank(pop, idx, pop[idx] * np.exp(weight * lift), pop[target] * np.exp(weight * lift_t)))
                        for weight in CONTEXT_POPULAR_WEIGHTS])
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


def _content_scale(matrix: CSR, content: np.ndarray, seed: int, sample: int = 300) -> float:
    from .tuning import spread

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
