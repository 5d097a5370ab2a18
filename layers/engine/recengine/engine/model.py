"""The served model: item factors + popularity + retrieval index, trained from interaction
events, saved as a directory of plain files (npy, annoy, json) and loaded with mmap."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .als import ALSParams, Progress, fit_als, fold_in
from .content import DIM as CONTENT_DIM
from .content import content_matrix, content_to_factors, embed, raw_vector
from .ease import EaseParams, ease_scores, fit_ease
from .errors import ArtefactError, EmptyTrainingSetError
from .index import EXACT_LIMIT, VectorIndex, build_annoy, load_annoy, top_k
from .popularity import popularity_scores
from .sparse import CSR

FORMAT_VERSION = 2
MANIFEST = "manifest.json"
ARTEFACT_FILES = (MANIFEST, "item_ids.json", "item_factors.npy", "gram.npy", "popularity.npy", "trending.npy",
                  "content.npy", "content_idf.npy", "content_map.npy",
                  "ease_indptr.npy", "ease_indices.npy", "ease_data.npy", "items_dot.ann", "items_angular.ann")
ALGORITHMS = ("hybrid", "collaborative", "content-based", "popular", "trending")
TRENDING_HALF_LIFE_DAYS = 3.0


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


@dataclass(frozen=True)
class TrainingData:
    """Interaction events as parallel arrays; ids are the tenant's own strings."""

    user_ids: Sequence[str]
    item_ids: Sequence[str]
    weights: np.ndarray
    timestamps: np.ndarray  # epoch seconds

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

    def collaborative_scores(self, uniq: np.ndarray, summed: np.ndarray, items: np.ndarray | None = None,
                             algorithm: str = "collaborative") -> np.ndarray:
        """Scores of `items` (all items when None) for a known history under `algorithm`."""
        sel = slice(None) if items is None else items
        content = None
        # A hybrid whose content weight is 0 skips the (items x 256) content product (most of its cost).
        if algorithm == "content-based" or (algorithm == "hybrid" and self.blend.w_content > 0):
            content = self.content[sel] @ self.content_profile(uniq, summed)
            if algorithm == "content-based":
                return content.astype(np.float64)
        query = fold_in(self.gram, self.item_factors, uniq, summed, self.alpha)
        ease = ease_scores(self.ease, uniq)[sel] if self.blend.w_ease > 0 else None
        scores = self._blend(self.item_factors[sel] @ query, ease)
        if content is not None and self.blend.w_content > 0:
            scores = scores + self.blend.w_content / self.blend.scale_content * content
        return scores

    def recommend(self, history: Sequence[str], weights: Sequence[float], n: int,
                  exclude: Iterable[str] = (), candidates: Sequence[str] | None = None,
                  algorithm: str = "hybrid") -> Ranked:
        """Ranks up to n items for a user history; seen and excluded items never come back.

        `algorithm`: hybrid (collaborative + content), collaborative, content-based, popular or
        trending; without a known history the first three fall back to popular."""
        if algorithm not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {algorithm!r}")
        excluded = set(self._indices(exclude).tolist()) | set(self._indices(history).tolist())
        uniq, summed, known = self._history(history, weights)
        if algorithm in ("popular", "trending"):
            known = 0
        source = algorithm if known else ("trending" if algorithm == "trending" else "popular")
        baseline = self.trending if algorithm == "trending" else self.popularity
        if candidates is not None:
            cand = np.array(sorted(set(self._indices(candidates).tolist()) - excluded), dtype=np.int64)
            if cand.size == 0:
                return Ranked([], source, known)
            scores = (self.collaborative_scores(uniq, summed, cand, algorithm) if known
                      else baseline[cand].astype(np.float64))
            if known:  # ties (e.g. zero vectors) resolved by popularity
                scores = scores + 1e-6 * self.popularity[cand]
            order = np.argsort(-scores, kind="stable")[:n]
            return Ranked([(self.item_ids[cand[i]], float(scores[i])) for i in order], source, known)
        if not known:
            scores = baseline.astype(np.float64).copy()
            if excluded:
                scores[list(excluded)] = -np.inf
            idx = top_k(scores, n)
            return Ranked([(self.item_ids[i], float(scores[i])) for i in idx], source, known)
        if self.index.exact or algorithm == "content-based":
            scores = self.collaborative_scores(uniq, summed, None, algorithm)
            if excluded:
                scores[list(excluded)] = -np.inf
            idx = top_k(scores, n)
            return Ranked([(self.item_ids[i], float(scores[i])) for i in idx], source, known)
        # Large catalogue: ALS candidates from annoy plus the items EASE scores, blended exactly.
        query = fold_in(self.gram, self.item_factors, uniq, summed, self.alpha)
        ease = ease_scores(self.ease, uniq) if self.blend.w_ease > 0 else None
        want = n + len(excluded)
        while True:
            ann_idx, _ = self.index.search(query, min(want * 2, self.n_items))
            pool = ann_idx if ease is None else np.union1d(ann_idx, top_k(np.where(ease != 0, ease, -np.inf), want))
            pool = np.array([i for i in pool.tolist() if i not in excluded], dtype=np.int64)
            scores = self._blend(self.item_factors[pool] @ query, None if ease is None else ease[pool])
            if algorithm == "hybrid" and self.blend.w_content > 0:
                scores = scores + self.blend.w_content / self.blend.scale_content * (
                    self.content[pool] @ self.content_profile(uniq, summed))
            order = np.argsort(-scores, kind="stable")[:n]
            if order.size >= n or want >= self.n_items:
                return Ranked([(self.item_ids[pool[i]], float(scores[i])) for i in order], source, known)
            want *= 2

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
            if manifest.get("format_version") != FORMAT_VERSION:
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
                   manifest.get("meta", {}), index, ease, blend, trending, content, content_idf, content_map)


def train_model(data: TrainingData, model_id: str, params: "TrainParams | ALSParams | None" = None,
                progress: Progress | None = None, tune_budget_s: float = 90.0, seed: int = 0,
                catalogue: Mapping[str, Mapping[str, Any]] | None = None) -> RecommenderModel:
    """Fits the collaborative models, content vectors and popularity; returns a servable model.

    With no `params`, hyper-parameters are chosen on a validation split of this data within
    `tune_budget_s` (see tuning.py); an `ALSParams` alone trains ALS without the item-item model.
    `catalogue` (item id -> metadata) adds content vectors, and makes catalogue items without any
    interaction recommendable: their collaborative vector is mapped from their content."""
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
    matrix = CSR.from_coo(user_idx, item_idx, weights, (users.size, items.size))
    if progress:
        progress({"stage": "matrix", "users": int(users.size), "items": int(items.size),
                  "interactions": len(data), "nnz": matrix.nnz})
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
    timestamps = np.asarray(data.timestamps)
    popularity = popularity_scores(item_idx, weights, timestamps, items.size)
    trending = popularity_scores(item_idx, weights, timestamps, items.size, TRENDING_HALF_LIFE_DAYS)
    meta = {"algorithm": "hybrid-als-ease" if ease is not None else "als", "params": params.as_dict(),
            "users": int(users.size), "items": int(items.size), "cold_items": int(cold.sum()),
            "interactions": len(data), "nnz": matrix.nnz, "train_s": round(time.perf_counter() - started, 3)}
    if tuning is not None:
        meta["tuning"] = {k: v for k, v in tuning.items() if k != "tried"}
    blend = Blend(params.w_ease if ease is not None else 0.0, scale_als, scale_ease,
                  Blend.w_content if has_content.any() else 0.0, scale_content)
    return RecommenderModel(model_id, items.tolist(), factors.item_factors, factors.gram(), popularity,
                            params.als.alpha, meta, ease=ease, blend=blend, trending=trending, content=content,
                            content_idf=idf, content_map=content_map)


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
