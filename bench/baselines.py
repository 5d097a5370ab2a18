"""Baselines for the offline evaluation (bench only; never shipped in the Lambda layer).

- ``EASE``: dense closed-form EASE (Steck 2019). P = (X^T X + lambda I)^-1,
  B = I - P diag(1 / diag(P)), so B_ij = -P_ij / P_jj off the diagonal and diag(B) = 0.
  Scores are X_u B. lambda is chosen on the validation split.
- ``ImplicitALS``: ``implicit.cpu.als.AlternatingLeastSquares`` (Hu, Koren & Volinsky 2008),
  lightly tuned on the validation split.

Each model has ``name``, ``params`` (the chosen ones), ``fit(task, validation, log)`` and
``rank(users, k)`` (a ``recengine.engine.metrics.Ranker``). EASE needs numpy only (scipy's
Cholesky routines are used when present: about 4x faster than ``np.linalg.inv`` here).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from recengine.engine.metrics import dense_ranker
from tools.evaluation.protocol import EvalTask, UserItemMatrix, Validation

Log = Callable[[str], None]

EASE_LAMBDAS = (100.0, 250.0, 500.0, 1000.0, 2000.0)


def _quiet(_msg: str) -> None:
    pass


# ---------------------------------------------------------------------------- EASE
def gram_matrix(matrix: UserItemMatrix, dtype=np.float32, chunk: int = 2048) -> np.ndarray:
    """X^T X accumulated over dense blocks of users (exact for counts below 2^24 in float32)."""
    n_users, n_items = matrix.shape
    g = np.zeros((n_items, n_items), dtype=dtype)
    for lo in range(0, n_users, chunk):
        x = matrix.dense_rows(np.arange(lo, min(lo + chunk, n_users)), dtype)
        g += x.T @ x
    return g


def _symmetrise_upper(a: np.ndarray, block: int = 1024) -> np.ndarray:
    """Copies the upper triangle onto the lower one in place, block by block (no n^2 temporaries)."""
    n = a.shape[0]
    for lo in range(0, n, block):
        hi = min(lo + block, n)
        a[lo:hi, :lo] = a[:lo, lo:hi].T
        d = a[lo:hi, lo:hi]
        a[lo:hi, lo:hi] = np.triu(d) + np.triu(d, 1).T
    return a


def spd_inverse(a: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive definite matrix: LAPACK potrf/potri if scipy is there."""
    try:
        from scipy.linalg import lapack
    except ImportError:  # numpy only
        return np.linalg.inv(a.astype(np.float64)).astype(a.dtype)
    potrf, potri = (lapack.spotrf, lapack.spotri) if a.dtype == np.float32 else (lapack.dpotrf, lapack.dpotri)
    c, info = potrf(a, lower=False, clean=True, overwrite_a=False)
    if info != 0:
        raise np.linalg.LinAlgError(f"potrf failed (info={info})")
    inv, info = potri(c, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"potri failed (info={info})")
    return _symmetrise_upper(np.asarray(inv))


def ease_weights(gram: np.ndarray, lam: float) -> np.ndarray:
    """B = I - P diag(1/diag(P)) with P = (G + lambda I)^-1; diag(B) = 0. G is not modified."""
    a = gram.copy()
    a[np.diag_indices_from(a)] += lam
    p = spd_inverse(a)
    del a
    d = np.diag(p).copy()
    p /= -d[None, :]  # B_ij = -P_ij / P_jj
    np.fill_diagonal(p, 0.0)
    return p


class EASE:
    name = "ease"

    def __init__(self, lambdas=EASE_LAMBDAS, dtype=np.float32, max_extend: int = 3):
        self.lambdas = tuple(float(x) for x in lambdas)
        self.max_extend = max_extend
        self.dtype = dtype
        self.params: dict = {}
        self.weights: np.ndarray | None = None
        self.train: UserItemMatrix | None = None

    def _ranker(self, train: UserItemMatrix, weights: np.ndarray):
        return dense_ranker(lambda users: train.dense_rows(users, self.dtype) @ weights, train)

    def tune(self, validation: Validation, log: Log = _quiet) -> float:
        """lambda with the best validation score. The grid is scanned upwards and the scan stops after
        two successive declines (the curve is unimodal in practice: each point costs an n^3
        inversion); when the best lambda is at an end of the grid, the grid is extended past it
        (x0.4 below, x2.5 above) up to `max_extend` times."""
        g = gram_matrix(validation.task.train, self.dtype)
        scores: dict[float, float] = {}

        def trial(lam: float) -> float:
            w = ease_weights(g, lam)
            scores[lam] = validation.score(self._ranker(validation.task.train, w))
            log(f"ease lambda={lam:g}: validation {validation.metric}={scores[lam]:.4f}")
            return scores[lam]

        previous, declines = -np.inf, 0
        for lam in sorted(self.lambdas):
            score = trial(lam)
            declines = declines + 1 if score < previous else 0
            previous = score
            if declines >= 2:
                break
        for _ in range(self.max_extend):
            best = max(scores, key=scores.get)
            if best == min(scores):
                trial(best * 0.4)
            elif best == max(scores):
                trial(best * 2.5)
            else:
                break
        return max(scores, key=scores.get)

    def fit(self, task: EvalTask, validation: Validation | None = None, log: Log = _quiet) -> None:
        lam = self.lambdas[0]
        if validation is not None and len(self.lambdas) > 1:
            lam = self.tune(validation, log)
        self.params = {"lambda": lam}
        self.train = task.train
        self.weights = ease_weights(gram_matrix(task.train, self.dtype), lam)

    def rank(self, users: np.ndarray, k: int) -> np.ndarray:
        return self._ranker(self.train, self.weights)(users, k)


# ---------------------------------------------------------------------------- implicit ALS
# (factors, regularization per factor, alpha): regularization grows with the factor count.
# Too much regularization (or too little alpha) collapses ALS to popularity; on the goodbooks
# sample the validation optimum sits near 128 factors, regularization 32, alpha 4.
ALS_GRID = tuple((f, r, a) for f in (64, 128) for r in (0.1, 0.25) for a in (2.0, 4.0, 8.0))


class ImplicitALS:
    name = "implicit_als"

    def __init__(self, grid=ALS_GRID, iterations: int = 15, seed: int = 0, num_threads: int = 2):
        self.grid = tuple(grid)
        self.iterations = iterations
        self.seed = seed
        self.num_threads = num_threads
        self.params: dict = {}
        self.model = None
        self.train: UserItemMatrix | None = None

    def _fit_one(self, train: UserItemMatrix, factors: int, regularization: float, alpha: float):
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        # implicit runs its own threads; a multi-threaded BLAS inside them only adds contention
        # (implicit warns about it when the model is built, hence both inside the limit).
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(factors=factors, regularization=regularization, alpha=alpha,
                                            iterations=self.iterations, num_threads=self.num_threads,
                                            random_state=self.seed, dtype=np.float32)
            model.fit(train.to_scipy().astype(np.float32), show_progress=False)
        return model

    @staticmethod
    def _ranker(train: UserItemMatrix, model):
        users_f, items_f = np.asarray(model.user_factors), np.asarray(model.item_factors)
        return dense_ranker(lambda users: users_f[users] @ items_f.T, train)

    def fit(self, task: EvalTask, validation: Validation | None = None, log: Log = _quiet) -> None:
        factors, per_factor, alpha = self.grid[0]
        if validation is not None and len(self.grid) > 1:
            scores = {}
            for f, r, a in self.grid:
                m = self._fit_one(validation.task.train, f, r * f, a)
                scores[(f, r, a)] = validation.score(self._ranker(validation.task.train, m))
                log(f"implicit_als factors={f} regularization={r * f:g} alpha={a:g}: "
                    f"validation {validation.metric}={scores[(f, r, a)]:.4f}")
            factors, per_factor, alpha = max(scores, key=scores.get)
        self.params = {"factors": factors, "regularization": per_factor * factors, "alpha": alpha,
                       "iterations": self.iterations}
        self.train = task.train
        self.model = self._fit_one(task.train, factors, per_factor * factors, alpha)

    def rank(self, users: np.ndarray, k: int) -> np.ndarray:
        return self._ranker(self.train, self.model)(users, k)


BASELINES = {"ease": EASE, "implicit_als": ImplicitALS}


def build(name: str, seed: int = 0):
    if name == "implicit_als":
        return ImplicitALS(seed=seed)
    if name == "ease":
        return EASE()
    raise KeyError(name)
