"""Nearest-neighbour retrieval over item vectors: exact numpy scoring for catalogues small
enough for it to be faster, an annoy forest above that."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from annoy import AnnoyIndex

# Below this many items a dense matvec (a few hundred microseconds) beats annoy and is exact.
EXACT_LIMIT = 100_000


def build_annoy(vectors: np.ndarray, metric: str, path: Path, n_trees: int = 32, seed: int = 0) -> None:
    index = AnnoyIndex(vectors.shape[1], metric)
    index.set_seed(seed)
    for i, v in enumerate(vectors):
        index.add_item(i, v.tolist())
    index.build(n_trees, n_jobs=1)
    index.save(str(path))
    index.unload()


def load_annoy(path: Path, dim: int, metric: str) -> AnnoyIndex:
    index = AnnoyIndex(dim, metric)
    index.load(str(path), prefault=False)  # mmap: pages come in on first touch
    return index


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k best finite scores, best first."""
    finite = np.isfinite(scores)
    n_ok = int(finite.sum())
    k = min(k, n_ok)
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    if k < scores.size:
        part = np.argpartition(-scores, k - 1)[:k]
    else:
        part = np.arange(scores.size)
    part = part[np.isfinite(scores[part])]
    return part[np.argsort(-scores[part], kind="stable")]


class VectorIndex:
    """Maximum inner product (recommend) and cosine (similar) retrieval over one item matrix."""

    def __init__(self, vectors: np.ndarray, unit_vectors: np.ndarray, dot_index: AnnoyIndex | None = None,
                 angular_index: AnnoyIndex | None = None, exact_limit: int = EXACT_LIMIT):
        self.vectors = vectors
        self.unit_vectors = unit_vectors
        self.dot_index = dot_index
        self.angular_index = angular_index
        self.exact = dot_index is None or vectors.shape[0] <= exact_limit

    def score_all(self, query: np.ndarray) -> np.ndarray:
        return self.vectors @ query

    def search(self, query: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-n items by inner product: (indices, scores), best first."""
        if self.exact:
            scores = self.score_all(query)
            idx = top_k(scores, n)
            return idx, scores[idx]
        ids = np.asarray(self.dot_index.get_nns_by_vector(query.tolist(), n, search_k=max(n * 64, 4000)),
                         dtype=np.int64)
        return ids, self.vectors[ids] @ query

    def neighbours(self, item: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-n items by cosine similarity to `item`, excluding itself."""
        if self.exact:
            sims = self.unit_vectors @ self.unit_vectors[item]
            sims[item] = -np.inf
            idx = top_k(sims, n)
            return idx, sims[idx]
        ids = np.asarray(self.angular_index.get_nns_by_item(item, n + 1, search_k=max(n * 64, 4000)),
                         dtype=np.int64)
        ids = ids[ids != item][:n]
        return ids, self.unit_vectors[ids] @ self.unit_vectors[item]
