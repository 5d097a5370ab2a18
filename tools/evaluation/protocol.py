"""The offline evaluation protocol: positives, the per-user holdout split, and the encoded
user x item matrices every model is trained and ranked on.

Rules:
- A rating >= 4 is a positive; only positives are used, for training and for testing. Each
  positive weighs 1.0 (``weighting="binary"``, the default) or ``rating - 3``
  (``weighting="rating"``: 4 -> 1, 5 -> 2). A user's repeated positive for one item is kept once
  (the latest row), so a held-out item can never also be a training item.
- A user with >= 5 positives holds out round(20%) of them, rounded half up and at least 1
  (5-7 positives -> 1, 8-12 -> 2, ...). Held out are the most recent ones when the data has
  timestamps (ties broken by file order, later = more recent), otherwise a seeded random 20%
  drawn with ``np.random.default_rng(seed)`` (one key per positive). The rule is the engine's
  (``recengine.engine.holdout``), shared with tuning and the promotion guard.
- Users with < 5 positives keep them all in train (they are not test users).
- ``validation_split(train, seed)`` applies the same rule to the training part, for
  hyper-parameter choice; the test part is never touched by it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recengine.engine.holdout import HOLDOUT_FRACTION, MIN_EVENTS, held_out
from recengine.engine.metrics import Ranker, evaluate

from .loaders import Ratings

POSITIVE_THRESHOLD = 4.0


@dataclass(frozen=True)
class Interactions:
    """Positive interactions as parallel arrays (file order)."""

    users: np.ndarray  # str
    items: np.ndarray  # str
    weights: np.ndarray  # float64
    timestamps: np.ndarray | None  # float64 epoch seconds or None
    order: np.ndarray  # int64 row position in the source file

    def __len__(self) -> int:
        return int(self.weights.size)

    def subset(self, mask: np.ndarray) -> "Interactions":
        return Interactions(self.users[mask], self.items[mask], self.weights[mask],
                            None if self.timestamps is None else self.timestamps[mask], self.order[mask])

    def to_training_data(self):
        """The engine's TrainingData; without timestamps every event gets time 0 (no decay)."""
        from recengine.engine.training import TrainingData

        ts = self.timestamps if self.timestamps is not None else np.zeros(len(self), dtype=np.float64)
        return TrainingData(user_ids=self.users, item_ids=self.items, weights=self.weights, timestamps=ts)


@dataclass(frozen=True)
class Split:
    train: Interactions
    test: Interactions
    seed: int

    @property
    def test_users(self) -> int:
        return int(np.unique(self.test.users).size)


def positives(ratings: Ratings, threshold: float = POSITIVE_THRESHOLD, weighting: str = "binary") -> Interactions:
    """Ratings >= threshold, one per (user, item) (the latest), weighted 1.0 or rating - threshold + 1."""
    if weighting not in ("binary", "rating"):
        raise ValueError(f"unknown weighting {weighting!r}")
    mask = ratings.ratings >= threshold
    users, items, r = ratings.users[mask], ratings.items[mask], ratings.ratings[mask]
    ts = None if ratings.timestamps is None else ratings.timestamps[mask]
    order = ratings.order[mask]
    if users.size:
        _, ucode = np.unique(users, return_inverse=True)
        _, icode = np.unique(items, return_inverse=True)
        pair = ucode.astype(np.int64) * (int(icode.max()) + 1) + icode
        # Latest row per pair: sort by (pair, time, order) and keep the last of each run.
        keys = (order, ts, pair) if ts is not None else (order, pair)
        perm = np.lexsort(keys)
        last = np.ones(perm.size, dtype=bool)
        last[:-1] = pair[perm][1:] != pair[perm][:-1]
        keep = np.sort(perm[last])
        users, items, r, order = users[keep], items[keep], r[keep], order[keep]
        ts = None if ts is None else ts[keep]
    weights = np.ones(r.size) if weighting == "binary" else r - threshold + 1.0
    return Interactions(users, items, weights.astype(np.float64), ts, order)


def holdout_split(data: Interactions, seed: int = 0, fraction: float = HOLDOUT_FRACTION,
                  min_positives: int = MIN_EVENTS) -> Split:
    """Splits each eligible user's positives into train and a held-out part (see module doc)."""
    if len(data) == 0:
        return Split(data, data, seed)
    _, ucode = np.unique(data.users, return_inverse=True)
    held = held_out(ucode, "random" if data.timestamps is None else "time", timestamps=data.timestamps,
                    arrival=data.order, seed=seed, draw="keys", fraction=fraction, min_events=min_positives)
    return Split(data.subset(~held), data.subset(held), seed)


def train_test_split(ratings: Ratings, seed: int = 0, weighting: str = "binary",
                     threshold: float = POSITIVE_THRESHOLD) -> Split:
    return holdout_split(positives(ratings, threshold, weighting), seed)


def validation_split(train: Interactions, seed: int = 0) -> Split:
    """Cuts a validation holdout out of training data with the test rule; for tuning only."""
    return holdout_split(train, seed)


# ---------------------------------------------------------------------- encoded matrices
@dataclass(frozen=True)
class UserItemMatrix:
    """CSR (users x items) of training weights over fixed user/item codes."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    shape: tuple[int, int]

    @classmethod
    def from_coo(cls, rows: np.ndarray, cols: np.ndarray, values: np.ndarray, shape: tuple[int, int]):
        perm = np.lexsort((cols, rows))
        rows, cols, values = rows[perm], cols[perm], values[perm]
        indptr = np.zeros(shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
        return cls(indptr, cols.astype(np.int64), values.astype(np.float64), shape)

    @property
    def nnz(self) -> int:
        return int(self.indices.size)

    def row(self, u: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.indptr[u], self.indptr[u + 1]
        return self.indices[lo:hi], self.data[lo:hi]

    def rows_coo(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row position in `users`, item, value) of the given users' entries."""
        lo, hi = self.indptr[users], self.indptr[users + 1]
        lengths = hi - lo
        pos = np.repeat(np.arange(users.size), lengths)
        idx = np.repeat(lo - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths) + np.arange(lengths.sum())
        return pos, self.indices[idx], self.data[idx]

    def dense_rows(self, users: np.ndarray, dtype=np.float32) -> np.ndarray:
        out = np.zeros((users.size, self.shape[1]), dtype=dtype)
        pos, cols, vals = self.rows_coo(users)
        out[pos, cols] = vals
        return out

    def item_sums(self) -> np.ndarray:
        return np.bincount(self.indices, weights=self.data, minlength=self.shape[1])

    def to_scipy(self):
        import scipy.sparse

        return scipy.sparse.csr_matrix((self.data, self.indices, self.indptr), shape=self.shape)


@dataclass(frozen=True)
class EvalTask:
    """A split encoded for ranking: train matrix, test users and their held-out item codes."""

    user_ids: np.ndarray  # str, code -> id
    item_ids: np.ndarray  # str, code -> id (the training catalogue)
    train: UserItemMatrix
    test_users: np.ndarray  # int64 user codes
    test_items: list[np.ndarray]  # per test user: item codes, -1 for items outside the catalogue
    split: Split

    @property
    def n_items(self) -> int:
        return int(self.item_ids.size)


def encode(split: Split, user_ids: np.ndarray | None = None, item_ids: np.ndarray | None = None) -> EvalTask:
    """Encodes a split; pass the codes of a parent task to keep them (validation shares them)."""
    train, test = split.train, split.test
    if user_ids is None:
        user_ids = np.unique(np.concatenate([train.users, test.users]))
    if item_ids is None:
        item_ids = np.unique(train.items)
    urow = _codes(user_ids, train.users)
    icol = _codes(item_ids, train.items)
    ok = (urow >= 0) & (icol >= 0)
    matrix = UserItemMatrix.from_coo(urow[ok], icol[ok], train.weights[ok], (user_ids.size, item_ids.size))
    tu = _codes(user_ids, test.users)
    ti = _codes(item_ids, test.items)
    perm = np.lexsort((ti, tu))
    tu, ti = tu[perm], ti[perm]
    test_users, starts = np.unique(tu, return_index=True)
    test_items = np.split(ti, starts[1:]) if tu.size else []
    return EvalTask(user_ids, item_ids, matrix, test_users.astype(np.int64), test_items, split)


def _codes(vocabulary: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Position of each value in the sorted vocabulary, -1 when absent."""
    if vocabulary.size == 0:
        return np.full(values.size, -1, dtype=np.int64)
    pos = np.searchsorted(vocabulary, values)
    pos = np.minimum(pos, vocabulary.size - 1)
    return np.where(vocabulary[pos] == values, pos, -1).astype(np.int64)


@dataclass
class Validation:
    """A validation task sharing the test task's codes, and a one-number score for tuning."""

    task: EvalTask
    metric: str = "ndcg@10"

    @classmethod
    def from_task(cls, task: EvalTask, seed: int = 0, metric: str = "ndcg@10") -> "Validation":
        val = validation_split(task.split.train, seed)
        return cls(encode(val, task.user_ids, task.item_ids), metric)

    def score(self, ranker: Ranker) -> float:
        return float(evaluate(ranker, self.task.test_users, self.task.test_items, self.task.n_items)[self.metric])
