"""Synthetic interaction data for the speed benchmarks: power-law item popularity, heavy-tailed user
activity and users whose tastes sit in a few latent clusters; seeded and vectorised."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from recengine.engine.recommender import Blend, RecommenderModel
from recengine.engine.training import TrainingData

# The API's default event weights (view, click, like, add_to_cart, purchase) and a plausible mix.
EVENT_WEIGHTS = np.array([1.0, 2.0, 4.0, 6.0, 8.0])
EVENT_SHARES = np.array([0.60, 0.20, 0.08, 0.07, 0.05])
EPOCH = 1_700_000_000.0  # fixed "now" so that timestamps, and so popularity, are reproducible


@dataclass(frozen=True)
class SyntheticSpec:
    n_interactions: int
    n_items: int
    n_users: int | None = None  # default: one user per 20 interactions
    n_clusters: int = 24
    item_exponent: float = 1.0  # item popularity ~ rank^-exponent (Zipf)
    user_exponent: float = 0.6  # user activity ~ rank^-exponent
    taste: tuple[float, float] = (0.70, 0.15)  # share from the primary / secondary cluster; rest global
    # Every item gets one event (so the model has n_items items) when there are >= 4 events per item;
    # with fewer, covering the catalogue would flatten the power law.
    cover_catalogue: bool = True
    days: float = 90.0
    seed: int = 0

    @property
    def users(self) -> int:
        return self.n_users if self.n_users is not None else max(1, self.n_interactions // 20)


@dataclass(frozen=True)
class Synthetic:
    spec: SyntheticSpec
    user_idx: np.ndarray  # int64 per event
    item_idx: np.ndarray  # int64 per event
    weights: np.ndarray  # float64 per event
    timestamps: np.ndarray  # float64 epoch seconds per event
    item_popularity: np.ndarray  # the sampling probability of every item (sums to 1)
    item_cluster: np.ndarray  # int64 per item
    user_clusters: np.ndarray  # (n_users, 2) primary and secondary cluster

    def __len__(self) -> int:
        return int(self.item_idx.size)

    def training_data(self) -> TrainingData:
        """The events with string ids, as the service hands them to `train_model`."""
        return TrainingData(user_names(self.spec.users)[self.user_idx], item_names(self.spec.n_items)[self.item_idx],
                            self.weights, self.timestamps)


def item_names(n: int) -> np.ndarray:
    return np.char.add("item-", np.arange(n).astype(str))


def user_names(n: int) -> np.ndarray:
    return np.char.add("user-", np.arange(n).astype(str))


def zipf_probabilities(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """p ~ (rank + 1)^-exponent, with ranks shuffled over ids so popularity is not in id order."""
    p = np.arange(1, n + 1, dtype=np.float64) ** -exponent
    p /= p.sum()
    return p[rng.permutation(n)]


class _ClusterSampler:
    """Draws items by popularity restricted to one cluster: one searchsorted over a cluster-sorted CDF."""

    def __init__(self, popularity: np.ndarray, item_cluster: np.ndarray, n_clusters: int):
        self.order = np.argsort(item_cluster, kind="stable")
        self.cdf = np.cumsum(popularity[self.order])
        bounds = np.searchsorted(item_cluster[self.order], np.arange(n_clusters + 1))
        edge = np.concatenate(([0.0], self.cdf))
        self.lo, self.mass = edge[bounds[:-1]], edge[bounds[1:]] - edge[bounds[:-1]]

    def draw(self, clusters: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        target = self.lo[clusters] + rng.random(clusters.size) * self.mass[clusters]
        pos = np.minimum(np.searchsorted(self.cdf, target, side="right"), self.cdf.size - 1)
        return self.order[pos]


def _sampler(syn: "Synthetic") -> _ClusterSampler:
    return _ClusterSampler(syn.item_popularity, syn.item_cluster, syn.spec.n_clusters)


def _draw_items(sampler: _ClusterSampler, popularity_cdf: np.ndarray, clusters: np.ndarray, taste: tuple[float, float],
                rng: np.random.Generator) -> np.ndarray:
    """clusters: (n, 2) primary/secondary cluster of each event's user."""
    n = clusters.shape[0]
    u = rng.random(n)
    which = np.where(u < taste[0], 0, np.where(u < taste[0] + taste[1], 1, 2))
    items = np.empty(n, dtype=np.int64)
    for k in (0, 1):
        sel = np.flatnonzero(which == k)
        items[sel] = sampler.draw(clusters[sel, k], rng)
    sel = np.flatnonzero(which == 2)
    items[sel] = np.minimum(np.searchsorted(popularity_cdf, rng.random(sel.size), side="right"),
                            popularity_cdf.size - 1)
    return items


def generate(spec: SyntheticSpec) -> Synthetic:
    rng = np.random.default_rng(spec.seed)
    n_users, n_items, n = spec.users, spec.n_items, spec.n_interactions
    popularity = zipf_probabilities(n_items, spec.item_exponent, rng)
    item_cluster = rng.integers(0, spec.n_clusters, n_items)
    user_clusters = rng.integers(0, spec.n_clusters, (n_users, 2))
    activity = zipf_probabilities(n_users, spec.user_exponent, rng)
    # Every user has at least one event; the rest follow the heavy-tailed activity.
    first = rng.permutation(n_users)[: min(n_users, n)]
    rest = np.minimum(np.searchsorted(np.cumsum(activity), rng.random(n - first.size), side="right"), n_users - 1)
    user_idx = np.concatenate((first, rest))
    item_idx = _draw_items(_ClusterSampler(popularity, item_cluster, spec.n_clusters), np.cumsum(popularity),
                           user_clusters[user_idx], spec.taste, rng)
    if spec.cover_catalogue and n >= 4 * n_items:
        # The catalogue's items each appear once (the head's counts barely move): spread over random events.
        item_idx[rng.choice(n, n_items, replace=False)] = rng.permutation(n_items)
    weights = EVENT_WEIGHTS[np.searchsorted(np.cumsum(EVENT_SHARES), rng.random(n) * EVENT_SHARES.sum())]
    timestamps = EPOCH - rng.random(n) * spec.days * 86400.0
    return Synthetic(spec, user_idx.astype(np.int64), item_idx, weights, timestamps, popularity, item_cluster,
                     user_clusters)


def catalogue(syn: Synthetic, seed: int = 2) -> dict[str, dict]:
    """Item metadata that carries the taste clusters: a category per cluster, tags shared within a
    cluster (plus a random one) and a short title, as a tenant's catalogue would have them."""
    rng = np.random.default_rng(seed)
    n = syn.spec.n_items
    own = rng.integers(0, 6, n)
    noise = rng.integers(0, 200, n)
    words = rng.integers(0, 2000, (n, 3))
    return {name: {"category": f"category-{c}", "tags": [f"tag-{c}-{t}", f"tag-x{x}"],
                   "title": " ".join(f"word{w:04d}" for w in ws)}
            for name, c, t, x, ws in zip(item_names(n).tolist(), syn.item_cluster.tolist(), own.tolist(),
                                         noise.tolist(), words.tolist())}


def sample_histories(syn: Synthetic, n_histories: int, length: int, seed: int = 1
                     ) -> list[tuple[list[str], list[float]]]:
    """Fresh users drawn from the same taste model: `length` events each (item ids, weights)."""
    rng = np.random.default_rng(seed)
    clusters = rng.integers(0, syn.spec.n_clusters, (n_histories, 2))
    items = _draw_items(_sampler(syn), np.cumsum(syn.item_popularity), np.repeat(clusters, length, axis=0),
                        syn.spec.taste, rng).reshape(n_histories, length)
    weights = EVENT_WEIGHTS[rng.choice(EVENT_WEIGHTS.size, (n_histories, length), p=EVENT_SHARES)]
    names = item_names(syn.spec.n_items)
    return [(names[row].tolist(), w.tolist()) for row, w in zip(items, weights)]


def random_model(n_items: int, factors: int = 64, n_clusters: int = 24, events_per_item: float = 10.0,
                 regularization: float = 5.0, alpha: float = 2.0, seed: int = 0,
                 model_id: str = "model_synthetic-v1") -> tuple[RecommenderModel, np.ndarray]:
    """An ALS-shaped model without training, for speed measurements on catalogues too large to train
    here: clustered item directions, and norms drawn as ALS factors trained on this module's data
    have them (log norm = -3.96 + 0.85 log count + N(0, 0.70), fitted on 1M events over 100k items),
    with each item's count its expected share of `events_per_item * n_items` events (at least 1).
    Returns the model and each item's cluster."""
    rng = np.random.default_rng(seed)
    popularity = zipf_probabilities(n_items, 1.0, rng)
    centres = rng.standard_normal((n_clusters, factors)).astype(np.float32)
    clusters = rng.integers(0, n_clusters, n_items)
    vectors = centres[clusters]
    vectors += rng.standard_normal((n_items, factors), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    counts = np.maximum(popularity * events_per_item * n_items, 1.0)
    norms = np.exp(-3.96 + 0.85 * np.log(counts) + rng.normal(0.0, 0.70, n_items)).astype(np.float32)
    vectors *= norms[:, None]
    y = vectors.astype(np.float64)
    gram = y.T @ y + regularization * np.eye(factors)
    # As train_model blends an ALS-only model: no item-item weights, and no content without a catalogue.
    blend = replace(Blend(), **{f.name: 0.0 for f in fields(Blend) if f.name.startswith("w_")})
    model = RecommenderModel(model_id, item_names(n_items).tolist(), vectors, gram,
                             (popularity / popularity.max()).astype(np.float32), alpha,
                             {"algorithm": "als", "synthetic": "random factors"}, blend=blend)
    return model, clusters
