"""The served model: factors, item-item weights, content, popularity, context, and the rankings it serves."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .als import fold_in
from .content import DIM as CONTENT_DIM
from .content import embed, raw_vector
from .context import ContextModel, gather
from .ease import ease_scores
from .index import VectorIndex, top_k, unit_rows
from .sparse import CSR, SparseRows

ALGORITHMS = ("hybrid", "collaborative", "content-based", "popular", "trending")
# Popularity added to every personalised score: breaks ties (zero vectors) the same way on every path.
TIE_BREAK = 1e-6


def best_k(scores: np.ndarray, k: int) -> np.ndarray:
    """What index.top_k returns (the k best finite scores, best first), for a whole-catalogue score
    vector, without partitioning all of it: split the first k*m scores into k blocks; the smallest
    of the k block maxima is a lower bound of the k-th best score (k distinct scores reach it), so
    the scores at or above it hold the k best. About 3x faster than argpartition at 10k items, and
    the full top_k stays the fallback whenever the bound is not finite or leaves too few."""
    size = scores.size
    if k <= 0 or size < 64 * k:
        return top_k(scores, k)
    m = size // k
    bound = scores[: k * m].reshape(k, m).max(axis=1).min()
    if not np.isfinite(bound):  # NaN, or a block of -inf (excluded) scores only
        return top_k(scores, k)
    cand = np.flatnonzero(scores >= bound)
    values = scores[cand]
    if not np.isfinite(values).all():  # +inf scores are not returned, as in top_k
        keep = np.isfinite(values)
        cand, values = cand[keep], values[keep]
        if cand.size < k:
            return top_k(scores, k)
    return cand[np.argsort(-values, kind="stable")[:k]]


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
class Ranked:
    """One ranked list: item ids with scores, and how it was produced."""

    items: list[tuple[str, float]]
    source: str  # "collaborative" or "popular"
    known_history: int = 0


@dataclass
class RecommenderModel:
    """A trained model as requests use it; built by training.py, written and read by artefact.py."""

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
    content: np.ndarray | SparseRows | None = None  # (n, CONTENT_DIM) unit vectors, dense or sparse
    content_idf: np.ndarray | None = None
    content_map: np.ndarray | None = None  # (CONTENT_DIM, k): content -> collaborative factors
    context_model: ContextModel | None = None  # None: the model ignores request context

    def __post_init__(self) -> None:
        self.item_index = {item: i for i, item in enumerate(self.item_ids)}
        if self.index is None:
            self.index = VectorIndex(self.item_factors, unit_rows(self.item_factors))
        n, k = len(self.item_ids), self.item_factors.shape[1]
        if self.ease is None:
            self.ease = CSR(np.zeros(n + 1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32), (n, n))
        if self.trending is None:
            self.trending = self.popularity
        if self.content is None:  # no item metadata: no content, and no dense n x 256 zeros either
            self.content = SparseRows.empty(n, CONTENT_DIM)
        if self.content_idf is None:
            self.content_idf = np.ones(CONTENT_DIM, np.float32)
        if self.content_map is None:
            self.content_map = np.zeros((CONTENT_DIM, k), np.float32)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    # ------------------------------------------------------------------ serving
    def _indices(self, items: Iterable[str]) -> np.ndarray:
        return np.fromiter((self.item_index[i] for i in items if i in self.item_index), dtype=np.int64)

    def _history(self, history: Sequence[str], weights: Sequence[float]) -> tuple[np.ndarray, np.ndarray, int]:
        """Known history items (unique, sorted) with summed weights, and how many events were known.
        One dict lookup per event (map, no Python-level loop body) and one sort: this runs on every request."""
        n = min(len(history), len(weights))
        idx = np.fromiter(map(self.item_index.get, history, repeat(-1, n)), dtype=np.int64, count=n)
        w = np.asarray(weights, dtype=np.float64)[:n]
        if not (idx >= 0).all():
            keep = idx >= 0
            idx, w = idx[keep], w[keep]
        if not idx.size:
            return np.zeros(0, np.int64), np.zeros(0), 0
        # Repeated items: sum their weights (in event order) so the fold-in sees one confidence per item.
        order = np.argsort(idx, kind="stable")
        idx, w = idx[order], w[order]
        first = np.empty(idx.size, dtype=bool)
        first[0] = True
        np.not_equal(idx[1:], idx[:-1], out=first[1:])
        if first.all():
            return idx, w, int(order.size)
        starts = np.flatnonzero(first)
        return idx[starts], np.add.reduceat(w, starts), int(order.size)

    def user_vector(self, history: Sequence[str], weights: Sequence[float]) -> tuple[np.ndarray, int]:
        """Folds a history into a user vector; returns (vector, n_known)."""
        uniq, summed, known = self._history(history, weights)
        if not known:
            return np.zeros(self.item_factors.shape[1], dtype=np.float32), 0
        return fold_in(self.gram, self.item_factors, uniq, summed, self.alpha), known

    def _tie_break(self) -> np.ndarray:
        """TIE_BREAK * popularity over the whole catalogue, computed once per popularity array
        (the same float32 values as computing it per request, without the per-request pass)."""
        cached = self.__dict__.get("_tie_cache")
        if cached is None or cached[0] is not self.popularity:
            cached = self._tie_cache = (self.popularity, TIE_BREAK * self.popularity)
        return cached[1]

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

    def _content_scores(self, items: np.ndarray | None, profile: np.ndarray) -> np.ndarray:
        """content[items] @ profile (all items when None), for a dense or a sparse content matrix."""
        if isinstance(self.content, SparseRows):
            return self.content.dot(profile, items)
        return self.content[slice(None) if items is None else items] @ profile

    def _score_parts(self, uniq: np.ndarray, summed: np.ndarray, items: np.ndarray | None, algorithm: str
                     ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(collaborative, weighted content) scores of `items` (all when None); either may be None.
        For "content-based" the content part is the raw cosine, unweighted."""
        sel = slice(None) if items is None else items
        content = None
        # A hybrid whose content weight is 0 skips the (items x 256) content product (most of its cost).
        if algorithm == "content-based" or (algorithm == "hybrid" and self.blend.w_content > 0):
            content = self._content_scores(items, self.content_profile(uniq, summed))
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
                  algorithm: str = "hybrid", context: Mapping[str, Any] | None = None,
                  exclude_seen: bool = True) -> Ranked:
        """Ranks up to n items for a user history; seen (unless `exclude_seen` is False: offers are
        shown again, as contact policies allow) and excluded items never come back.

        `algorithm`: hybrid (collaborative + content), collaborative, content-based, popular or
        trending; without a known history the first three fall back to popular. `context` (the
        request's device, region, ...) moves items that did better in such a context up, for every
        algorithm but content-based, when the model learnt that context helps."""
        if algorithm not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {algorithm!r}")
        uniq, summed, known = self._history(history, weights)
        # Seen and excluded items as one sorted index array: set to -inf in place, no Python set.
        extra = self._indices(exclude)
        if not exclude_seen:
            excluded = np.unique(extra)
        else:
            excluded = np.union1d(uniq, extra) if extra.size else uniq
        if algorithm in ("popular", "trending"):
            known = 0
        source = algorithm if known else ("trending" if algorithm == "trending" else "popular")
        baseline = self.trending if algorithm == "trending" else self.popularity
        ctx = self.context_terms(context, bool(known), algorithm)
        if candidates is not None:
            cand = np.setdiff1d(self._indices(candidates), excluded)
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
            if excluded.size:
                scores[excluded] = -np.inf
            idx = top_k(scores, n)
            return Ranked([(self.item_ids[i], float(scores[i])) for i in idx], source, known)
        if self.index.exact or algorithm == "content-based":
            scores = self.collaborative_scores(uniq, summed, None, algorithm)
            scores += self._tie_break()
            if ctx is not None:
                scores = scores.astype(np.float64)  # as on the other paths: float32 would round the lift
                scores[ctx[0]] += ctx[1]
            if excluded.size:
                scores[excluded] = -np.inf
            idx = best_k(scores, n)
            return Ranked([(self.item_ids[i], float(scores[i])) for i in idx], source, known)
        # Large catalogue: ALS candidates from the index plus the items EASE and the context score,
        # blended exactly.
        query = fold_in(self.gram, self.item_factors, uniq, summed, self.alpha)
        ease = ease_scores(self.ease, uniq) if self.blend.w_ease > 0 else None
        boosted = ctx[0][ctx[1] > 0] if ctx is not None else None
        want = n + excluded.size
        while True:
            ann_idx, _ = self.index.search(query, min(want * 2, self.n_items))
            pool = ann_idx if ease is None else np.union1d(ann_idx, top_k(np.where(ease != 0, ease, -np.inf), want))
            if boosted is not None and boosted.size:
                pool = np.union1d(pool, boosted[top_k(gather(*ctx, boosted, self.n_items), want)])
            pool = pool[~np.isin(pool, excluded)].astype(np.int64, copy=False)
            scores = self._blend(self.item_factors[pool] @ query, None if ease is None else ease[pool])
            if algorithm == "hybrid" and self.blend.w_content > 0:
                scores = scores + self.blend.w_content / self.blend.scale_content * (
                    self._content_scores(pool, self.content_profile(uniq, summed)))
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
