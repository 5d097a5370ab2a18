"""Context-aware ranking on synthetic data with a planted context effect: does ranking with the
request's context beat ranking without it, and does a model trained on data without such an
effect leave ranking as it was?

    python -m bench.context_lift [--effect 0.3] [--users 3000] [--items 2000] [--seed 0] [--out JSON]

Users have tastes over item clusters, a home region and a main device (used for most of their
events; the rest from another device). Every event carries its context (device_type, os_platform,
user_region, referrer_source and a continuous session length that is noise); with probability
`effect` its item comes from a small set favoured by the event's device type or region instead of
the user's taste. Each user's last event is held out with its context; the model is trained with
`train_model` on the rest and every held-out event whose item is new to the user (recommend never
returns a seen item) ranked through `RecommenderModel.recommend` from the user's history, with and
without the event's context. The control is the same
generator with effect 0 (context present, but it tells nothing about the items)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "layers" / "engine"))

from recengine.engine.metrics import ndcg_at_k, recall_at_k  # noqa: E402
from recengine.engine.recommender import RecommenderModel  # noqa: E402
from recengine.engine.training import TrainingData, train_model  # noqa: E402

DEVICES = ("mobile", "desktop", "tablet")
PLATFORMS = {"mobile": ("ios", "android"), "desktop": ("windows", "macos"), "tablet": ("ipados", "android")}
REGIONS = ("eu", "us", "apac", "latam")
REFERRERS = ("search", "social", "email", "direct")
EVENT_WEIGHTS = np.array([1.0, 2.0, 4.0])
EPOCH = 1_700_000_000.0
K = 10


@dataclass(frozen=True)
class ContextSpec:
    n_users: int = 3_000
    n_items: int = 2_000
    events_per_user: int = 30  # mean; each user has between 8 and 2 * mean - 8
    n_clusters: int = 20
    taste: float = 0.75  # share of the non-context events from the user's cluster; the rest by popularity
    effect: float = 0.3  # share of events whose item comes from the context's favoured items (0: control)
    favoured: int = 12  # items favoured by each device type and by each region (Zipf within the set)
    main_device: float = 0.6  # share of a user's events on their main device
    seed: int = 0


@dataclass(frozen=True)
class ContextData:
    spec: ContextSpec
    user_idx: np.ndarray  # per event, events in time order within each user
    item_idx: np.ndarray
    weights: np.ndarray
    timestamps: np.ndarray
    contexts: list[dict]
    favoured: dict[str, np.ndarray]  # "device_type=mobile" -> its favoured items

    def split(self) -> tuple[TrainingData, list[tuple[list[str], list[float], str, dict]]]:
        """(training data without each user's last event, [(history, weights, held-out item, context)])
        for the held-out items that are not already in their user's history."""
        last = np.r_[self.user_idx[1:] != self.user_idx[:-1], True]
        train = np.flatnonzero(~last)
        users, items = np.char.add("user-", self.user_idx.astype(str)), np.char.add("item-", self.item_idx.astype(str))
        data = TrainingData(users[train].tolist(), items[train].tolist(), self.weights[train], self.timestamps[train],
                            [self.contexts[i] for i in train.tolist()])
        starts = np.flatnonzero(np.r_[True, self.user_idx[1:] != self.user_idx[:-1]])
        tests = []
        for lo, hi in zip(starts.tolist(), (np.flatnonzero(last) + 1).tolist()):
            history = items[lo:hi - 1].tolist()
            if str(items[hi - 1]) not in history:
                tests.append((history, self.weights[lo:hi - 1].tolist(), str(items[hi - 1]), self.contexts[hi - 1]))
        return data, tests


def generate(spec: ContextSpec) -> ContextData:
    rng = np.random.default_rng(spec.seed)
    n_users, n_items = spec.n_users, spec.n_items
    popularity = np.arange(1, n_items + 1, dtype=np.float64) ** -1.0
    popularity = (popularity / popularity.sum())[rng.permutation(n_items)]
    item_cluster = rng.integers(0, spec.n_clusters, n_items)
    members = [np.flatnonzero(item_cluster == c) for c in range(spec.n_clusters)]
    member_p = [popularity[m] / popularity[m].sum() for m in members]
    # Disjoint favoured sets: one per device type, one per region.
    chosen = rng.permutation(n_items)[: spec.favoured * (len(DEVICES) + len(REGIONS))].reshape(-1, spec.favoured)
    favoured = {f"device_type={d}": chosen[i] for i, d in enumerate(DEVICES)}
    favoured.update({f"user_region={r}": chosen[len(DEVICES) + i] for i, r in enumerate(REGIONS)})

    counts = rng.integers(8, 2 * spec.events_per_user - 7, n_users)
    user_idx = np.repeat(np.arange(n_users), counts)
    n = user_idx.size
    cluster = rng.integers(0, spec.n_clusters, n_users)
    home = rng.integers(0, len(REGIONS), n_users)
    main = rng.integers(0, len(DEVICES), n_users)
    platform = rng.integers(0, 2, (n_users, len(DEVICES)))  # each user's OS on each device type
    device = np.where(rng.random(n) < spec.main_device, main[user_idx], rng.integers(0, len(DEVICES), n))
    region = home[user_idx]

    item_idx = np.empty(n, dtype=np.int64)
    u = rng.random(n)
    planted = u < spec.effect
    tasted = ~planted & (rng.random(n) < spec.taste)
    rest = ~planted & ~tasted
    by_device = planted & (rng.random(n) < 0.5)
    by_region = planted & ~by_device
    within = np.arange(1, spec.favoured + 1, dtype=np.float64) ** -1.0
    within /= within.sum()
    for d, name in enumerate(DEVICES):
        sel = np.flatnonzero(by_device & (device == d))
        item_idx[sel] = rng.choice(favoured[f"device_type={name}"], sel.size, p=within)
    for r, name in enumerate(REGIONS):
        sel = np.flatnonzero(by_region & (region == r))
        item_idx[sel] = rng.choice(favoured[f"user_region={name}"], sel.size, p=within)
    for c in range(spec.n_clusters):
        sel = np.flatnonzero(tasted & (cluster[user_idx] == c))
        item_idx[sel] = rng.choice(members[c], sel.size, p=member_p[c])
    sel = np.flatnonzero(rest)
    item_idx[sel] = rng.choice(n_items, sel.size, p=popularity)

    weights = EVENT_WEIGHTS[rng.integers(0, EVENT_WEIGHTS.size, n)]
    position = np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts)
    timestamps = EPOCH - 90 * 86400.0 + position * 3600.0 + rng.random(n) * 60.0
    referrer = rng.integers(0, len(REFERRERS), n)
    minutes = rng.lognormal(2.0, 1.0, n)
    contexts = [{"device_type": DEVICES[d], "os_platform": PLATFORMS[DEVICES[d]][platform[uu, d]],
                 "user_region": REGIONS[r], "referrer_source": REFERRERS[f], "session_minutes": float(m)}
                for uu, d, r, f, m in zip(user_idx.tolist(), device.tolist(), region.tolist(), referrer.tolist(),
                                          minutes.tolist())]
    return ContextData(spec, user_idx, item_idx, weights, timestamps, contexts, favoured)


def evaluate(model: RecommenderModel, tests: list[tuple[list[str], list[float], str, dict]],
             algorithm: str = "hybrid") -> dict[str, dict[str, float]]:
    """Recall@10 and NDCG@10 of the held-out items, ranked with and without their context."""
    out: dict[str, dict[str, float]] = {}
    for label, use in (("without", False), ("with", True)):
        recall, ndcg = [], []
        for history, weights, held, context in tests:
            ranked = [i for i, _ in model.recommend(history, weights, K, algorithm=algorithm,
                                                    context=context if use else None).items]
            recall.append(recall_at_k(ranked, [held], K))
            ndcg.append(ndcg_at_k(ranked, [held], K))
        out[label] = {"recall@10": float(np.mean(recall)), "ndcg@10": float(np.mean(ndcg))}
    out["lift"] = {m: (out["with"][m] / out["without"][m] - 1.0) if out["without"][m] else 0.0
                   for m in ("recall@10", "ndcg@10")}
    return out


def run(spec: ContextSpec, tune_budget_s: float) -> dict:
    started = time.perf_counter()
    data, tests = generate(spec).split()
    model = train_model(data, "model_context-bench-v1", tune_budget_s=tune_budget_s, seed=spec.seed)
    train_s = time.perf_counter() - started
    result = {"spec": asdict(spec), "events": len(data), "test_events": len(tests), "train_s": round(train_s, 1),
              "context_model": model.meta.get("context", {}),
              "w_context": model.blend.w_context, "w_context_popular": model.blend.w_context_popular}
    for algorithm in ("hybrid", "popular"):
        result[algorithm] = evaluate(model, tests, algorithm)
    return result


def _print(title: str, result: dict) -> None:
    print(f"\n{title}: {result['test_events']} held-out events, {result['events']} training events, "
          f"trained in {result['train_s']}s; chosen w_context={result['w_context']}, "
          f"w_context_popular={result['w_context_popular']}")
    print(f"{'ranking':<10}{'context':<10}{'recall@10':>11}{'ndcg@10':>10}")
    for algorithm in ("hybrid", "popular"):
        r = result[algorithm]
        for label in ("without", "with"):
            print(f"{algorithm:<10}{label:<10}{r[label]['recall@10']:>11.4f}{r[label]['ndcg@10']:>10.4f}")
        print(f"{algorithm:<10}{'lift':<10}{r['lift']['recall@10']:>+11.1%}{r['lift']['ndcg@10']:>+10.1%}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--effect", type=float, default=ContextSpec.effect)
    parser.add_argument("--users", type=int, default=ContextSpec.n_users)
    parser.add_argument("--items", type=int, default=ContextSpec.n_items)
    parser.add_argument("--favoured", type=int, default=ContextSpec.favoured)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tune-budget", type=float, default=30.0, help="seconds for hyper-parameter tuning")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    spec = ContextSpec(n_users=args.users, n_items=args.items, effect=args.effect, favoured=args.favoured,
                       seed=args.seed)
    planted = run(spec, args.tune_budget)
    control = run(replace(spec, effect=0.0), args.tune_budget)
    _print(f"Planted context effect ({spec.effect:.0%} of events from the context's favoured items)", planted)
    _print("Control (no context effect)", control)
    if args.out:
        args.out.write_text(json.dumps({"planted": planted, "control": control}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
