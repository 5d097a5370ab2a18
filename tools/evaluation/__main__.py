"""Offline evaluation: ``python -m tools.evaluation [--data PATH] [--out JSON] [--models ...] [--seed 0]``.

Loads a ratings file, splits it (protocol.py), fits every requested model on the same training
part, ranks the held-out users' top 100 and prints one table (stdout) plus progress (stderr);
``--out`` also writes the figures as JSON. The engine's default model goes through
``train_model`` + ``RecommenderModel.recommend``: the serving path, seen-item filtering included.
The baselines (bench/baselines.py) are imported only when requested (they need bench/requirements.txt).
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

from recengine.engine.metrics import METRICS, dense_ranker, evaluate

from .loaders import load_ratings
from .protocol import EvalTask, Validation, encode, train_test_split

MODELS = ("popularity", "ease", "implicit_als", "default")
TUNED = ("ease", "implicit_als")  # tuned on the validation split
TARGETS = {"ndcg@10": 0.325, "recall@20": 0.27}  # the targets for the default model


def repo_root() -> Path:
    """The checkout holding this package (tools/evaluation/ is 2 levels down)."""
    return Path(__file__).resolve().parents[2]


def default_data() -> Path:
    return repo_root().parent / "shared" / "data" / "goodbooks-10k" / "ratings_users5pct.csv.gz"


class Log:
    """Progress lines on stderr, stamped with the time since start."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.started = time.perf_counter()

    def __call__(self, message: str) -> None:
        print(f"[eval {time.perf_counter() - self.started:7.1f}s] {message}", file=self.stream, flush=True)


# ---------------------------------------------------------------------------- models
class Popularity:
    """Items by their count of training positives; the user's seen items excluded."""

    name = "popularity"

    def __init__(self):
        self.params: dict = {}

    def fit(self, task: EvalTask, validation: Validation | None = None, log=None) -> None:
        self.train = task.train
        self.counts = np.bincount(task.train.indices, minlength=task.n_items).astype(np.float32)

    def rank(self, users: np.ndarray, k: int) -> np.ndarray:
        counts = self.counts
        return dense_ranker(lambda u: np.broadcast_to(counts, (u.size, counts.size)), self.train)(users, k)


class EngineDefault:
    """The engine's default model through train_model + RecommenderModel.recommend (serving path)."""

    name = "default"

    def __init__(self, seed: int = 0):
        self.seed = seed
        self.params: dict = {}
        self.algorithm = "engine"

    def fit(self, task: EvalTask, validation: Validation | None = None, log=None) -> None:
        train = task.split.train
        self.model = self.train(train, log)
        self.algorithm = str(self.model.meta.get("algorithm") or "engine")
        self.params = dict(self.model.meta.get("params") or {})
        # Each user's training history, oldest first (by timestamp, then file order).
        ucode = np.searchsorted(task.user_ids, train.users)
        ts = train.timestamps if train.timestamps is not None else np.zeros(len(train))
        perm = np.lexsort((train.order, ts, ucode))
        self.hist_items = train.items[perm]
        self.hist_weights = train.weights[perm]
        self.hist_ptr = np.zeros(task.user_ids.size + 1, dtype=np.int64)
        np.cumsum(np.bincount(ucode, minlength=task.user_ids.size), out=self.hist_ptr[1:])
        self.item_code = {item: i for i, item in enumerate(task.item_ids.tolist())}

    def train(self, train, log=None):
        """The model ranked: train_model on the training part (spark/evaluate.py trains it on Spark)."""
        from recengine.engine.training import train_model

        stages: list[dict] = []
        kwargs = {"model_id": "eval", "progress": stages.append}
        if "seed" in inspect.signature(train_model).parameters:  # keyword-only use: the signature may grow
            kwargs["seed"] = self.seed
        model = train_model(train.to_training_data(), **kwargs)
        if log and stages:
            log(f"default ({model.meta.get('algorithm')}): last training stage {stages[-1]}")
        return model

    def rank(self, users: np.ndarray, k: int) -> np.ndarray:
        out = np.full((users.size, k), -1, dtype=np.int64)
        for row, u in enumerate(users):
            lo, hi = self.hist_ptr[u], self.hist_ptr[u + 1]
            ranked = self.model.recommend(self.hist_items[lo:hi].tolist(), self.hist_weights[lo:hi].tolist(), n=k)
            codes = [self.item_code.get(item, -1) for item, _ in ranked.items[:k]]
            out[row, : len(codes)] = codes
        return out


def _bench_baselines():
    from bench import baselines  # tools/ and bench/ sit side by side at the top of the checkout

    return baselines


def build_models(names: list[str], seed: int) -> list:
    models = []
    for name in names:
        if name == "popularity":
            models.append(Popularity())
        elif name == "default":
            models.append(EngineDefault(seed))
        else:
            if name == "implicit_als" and importlib.util.find_spec("implicit") is None:
                raise SystemExit("implicit_als needs the bench requirements: pip install -r bench/requirements.txt "
                                 "(make eval does it)")
            models.append(_bench_baselines().build(name, seed=seed))
    return models


# ---------------------------------------------------------------------------- reporting
def _cell(value: float, target: float | None) -> str:
    if target is None:
        return f"{value:.4f}"
    return f"{value:.4f} ({target:g} {'PASS' if value >= target else 'MISS'})"


def format_table(result: dict) -> str:
    split = result["split"]
    cols = list(METRICS) + ["train_s", "peak_mb"]
    widths = {c: (20 if c in TARGETS else max(len(c), 8)) for c in cols}
    lines = [f"dataset {result['dataset']}: {split['users']:,} users, {split['items']:,} items, "
             f"{split['train_interactions']:,} train / {split['test_interactions']:,} test positives, "
             f"{split['test_users']:,} test users, seed {split['seed']}",
             f"{'model':<22}" + " ".join(f"{c:>{widths[c]}}" for c in cols)]
    default = result["default_model"]
    for key, figures in result["models"].items():
        is_default = key == default
        label = f"default ({key})" if is_default else key
        cells = []
        for c in cols:
            if c in METRICS:
                cells.append(_cell(figures[c], result["targets"].get(c) if is_default else None))
            elif c == "train_s":
                cells.append(f"{figures[c]:.2f}")
            else:
                cells.append(f"{figures[c]:.1f}")
        lines.append(f"{label:<22}" + " ".join(f"{v:>{widths[c]}}" for c, v in zip(cols, cells)))
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.evaluation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None,
                        help="ratings file (goodbooks CSV, MovieLens u.data / ratings.dat / ratings.csv; .gz ok); "
                             "default: ../shared/data/goodbooks-10k/ratings_users5pct.csv.gz from the repo root")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    parser.add_argument("--models", nargs="+", default=[",".join(MODELS)],
                        help=f"models to compare, space or comma separated (default: {','.join(MODELS)})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--weighting", choices=("binary", "rating"), default="binary",
                        help="weight of a positive: 1.0 (binary) or rating - 3")
    args = parser.parse_args(argv)
    names = [n.strip() for arg in args.models for n in arg.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODELS]
    if unknown or not names:
        parser.error(f"unknown models {unknown}; choose from {', '.join(MODELS)}")
    args.models = list(dict.fromkeys(names))
    return args


def run(args: argparse.Namespace, log: Log, build=build_models) -> dict:
    """The figures of `args.models`, built by `build(names, seed)` (spark/evaluate.py builds a Spark-trained default)."""
    path = args.data or default_data()
    t = time.perf_counter()
    ratings = load_ratings(path)
    log(f"loaded {path.name}: {len(ratings):,} ratings ({ratings.format}) in {time.perf_counter() - t:.2f}s")

    t = time.perf_counter()
    split = train_test_split(ratings, seed=args.seed, weighting=args.weighting)
    task = encode(split)
    n_test_users = int(task.test_users.size)
    log(f"split: {task.user_ids.size:,} users, {task.n_items:,} train items, {len(split.train):,} train / "
        f"{len(split.test):,} test positives, {n_test_users:,} test users ({time.perf_counter() - t:.2f}s)")
    validation = None
    if any(name in TUNED for name in args.models):
        validation = Validation.from_task(task, seed=args.seed)
        log(f"validation split: {validation.task.train.nnz:,} train / {len(validation.task.split.test):,} "
            f"validation positives, {validation.task.test_users.size:,} validation users")

    models = build(args.models, args.seed)
    figures: dict[str, dict] = {}
    default_key = None
    for model in models:
        log(f"{model.name}: fitting")
        # Peak memory of the fit through tracemalloc: numpy (>= 1.13) reports its array buffers to it,
        # so the figure covers the numpy allocations plus Python objects; memory allocated by native
        # code outside numpy (e.g. implicit's per-thread C++ buffers, BLAS workspaces) is not seen.
        tracemalloc.start()
        t = time.perf_counter()
        model.fit(task, validation, log)
        train_s = time.perf_counter() - t
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        t = time.perf_counter()
        measured = evaluate(model.rank, task.test_users, task.test_items, task.n_items)
        eval_s = time.perf_counter() - t
        key = model.name
        if model.name == "default":
            key = model.algorithm if model.algorithm not in MODELS else f"engine_{model.algorithm}"
            default_key = key
        figures[key] = {**{m: round(float(measured[m]), 4) for m in METRICS},
                        "train_s": round(train_s, 2), "peak_mb": round(peak / 2**20, 1)}
        log(f"{key}: fit {train_s:.2f}s (peak {peak / 2**20:.0f} MB), ranked {n_test_users:,} users in {eval_s:.2f}s; "
            f"params {model.params}; " + ", ".join(f"{m}={measured[m]:.4f}" for m in METRICS))

    return {
        "dataset": path.name,
        "split": {"users": int(task.user_ids.size), "items": int(task.n_items),
                  "train_interactions": len(split.train), "test_interactions": len(split.test),
                  "test_users": n_test_users, "seed": args.seed},
        "default_model": default_key,
        "models": figures,
        "targets": dict(TARGETS),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    log = Log()
    result = run(args, log)
    print(format_table(result), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        log(f"wrote {args.out}")
    log("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
