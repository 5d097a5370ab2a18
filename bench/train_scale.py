"""Trainer scale through the training service: time per stage, peak memory and artefact size at
0.1M / 1M / 5M interactions, and the largest tenant one 10 GB / 15-minute Lambda can train.

    python -m bench.train_scale [--sizes 0.1,1,5] [--items 100000] [--out F.json]

Each size runs in a fresh subprocess (so its peak RSS, `ru_maxrss`, is its own) and goes through
the code the train function runs: `read_training_data` over an in-memory store that yields rows as
DynamoDB's by_tenant index does, then `fit_tenant_model` (holdout split, evaluation fit with
tuning inside the default budget, holdout scoring, full fit) and `save_model`. The data
is bench/synthetic.py's: power-law item popularity, heavy-tailed users (one per 20 events), a
catalogue with metadata for every item. Only DynamoDB's network time is missing: its CPU cost of
deserialising rows is measured on a sample and added to the extrapolation.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
LAMBDA_MEMORY_MB = 10240.0
LAMBDA_TIMEOUT_S = 900.0
# Kept out of the training's share of the 15 minutes: startup, the registry writes, the upload.
LAMBDA_MARGIN_S = 60.0
TENANT = "bench-tenant"


# ---------------------------------------------------------------------------- the worker (subprocess)
def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class MemoryStore:
    """Stands in for InteractionStore: the rows a by_tenant query yields (after deserialisation),
    built one at a time from the synthetic arrays, in time order as the index returns them."""

    def __init__(self, syn):
        import numpy as np

        from bench.synthetic import item_names, user_names

        self.order = np.argsort(syn.timestamps, kind="stable")
        self.syn, self.users, self.items = syn, user_names(syn.spec.users), item_names(syn.spec.n_items)

    def tenant_events(self, tenant_id: str, after_sk: str = "", page: int = 65_536):
        syn = self.syn
        for start in range(0, self.order.size, page):  # a page at a time, as the query pages
            rows = self.order[start:start + page]
            users = self.users[syn.user_idx[rows]].tolist()
            items = self.items[syn.item_idx[rows]].tolist()
            for n, (user, item, weight, ts) in enumerate(zip(users, items, syn.weights[rows].tolist(),
                                                             syn.timestamps[rows].tolist()), start=start):
                yield {"pk": f"{tenant_id}#user#{user}", "sk": f"{ts:017.6f}#e{n}", "tenant_id": tenant_id,
                       "user_id": user, "item_id": item, "weight": weight, "ts": ts, "type": "view"}


def _deserialise_s_per_row(store: MemoryStore, sample: int = 20_000) -> float:
    """The CPU time DynamoDB rows cost to deserialise (what recengine.aws.dynamo.deserialize does per row)."""
    from recengine.aws.dynamo import deserialize, serialize

    rows = []
    for row in store.tenant_events(TENANT):
        rows.append(serialize(row))
        if len(rows) == sample:
            break
    started = time.perf_counter()
    for row in rows:
        deserialize(row)
    return (time.perf_counter() - started) / max(len(rows), 1)


def worker(cfg: dict) -> dict:
    from bench.synthetic import SyntheticSpec, catalogue, generate
    from recengine.engine.artefact import save_model
    from recengine.models.training import fit_tenant_model, new_model_id, read_training_data
    from tools.admin.training import ProgressDisplay

    out: dict = {"interactions": cfg["n_interactions"], "n_items": cfg["n_items"]}
    started = time.perf_counter()
    syn = generate(SyntheticSpec(cfg["n_interactions"], cfg["n_items"], seed=cfg.get("seed", 0)))
    meta = catalogue(syn) if cfg.get("catalogue", True) else {}
    out["generate_s"] = round(time.perf_counter() - started, 3)
    out["rss_after_generate_mb"] = round(_peak_rss_mb(), 1)
    store = MemoryStore(syn)
    out["deserialise_us_per_row"] = round(_deserialise_s_per_row(store) * 1e6, 3)

    display = ProgressDisplay(sys.stderr, tty=False)
    tuning_s: list[float] = []

    def progress(info: dict) -> None:
        if info.get("stage") == "tuning" and info.get("fit") == "holdout":
            tuning_s.append(float(info["elapsed_s"]))
        if info.get("stage") != "read":
            display({**info, "elapsed_s": round(time.perf_counter() - fit_started, 1)})

    started = time.perf_counter()
    data, _ = read_training_data(store, TENANT)
    out["read_s"] = round(time.perf_counter() - started, 3)
    del store, syn  # the synthetic arrays are not part of what a Lambda holds
    out["rss_after_read_mb"] = round(_peak_rss_mb(), 1)

    fit_started = time.perf_counter()
    fitted = fit_tenant_model(data, new_model_id("hybrid", 1), catalogue=meta, progress=progress)
    out.update({f"{stage}_s": seconds for stage, seconds in fitted.stages_s.items()})
    out["tuning_s"] = tuning_s[-1] if tuning_s else 0.0  # part of eval_fit_s
    out["fit_total_s"] = round(time.perf_counter() - fit_started, 3)
    out["metrics"] = {k: fitted.metrics[k] for k in ("recall@20", "ndcg@10", "coverage@20", "eval_users", "users",
                                                     "items") if k in fitted.metrics}
    out["algorithm"] = fitted.model.meta.get("algorithm")
    out["params"] = fitted.model.meta.get("params")
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        files = save_model(fitted.model, Path(tmp))
        out["save_s"] = round(time.perf_counter() - started, 3)
        out["artefact_mb"] = round(sum(Path(f).stat().st_size for f in files) / 2**20, 2)
    out["peak_rss_mb"] = round(_peak_rss_mb(), 1)
    out["total_s"] = round(out["read_s"] + out["fit_total_s"] + out["save_s"], 3)
    return out


# ---------------------------------------------------------------------------- orchestration
def run_size(n_interactions: int, n_items: int, threads: int, timeout_s: float, catalogue: bool) -> dict:
    cfg = {"n_interactions": n_interactions, "n_items": n_items, "catalogue": catalogue}
    env = {**os.environ, **{v: str(threads) for v in THREAD_VARS}}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "layers" / "engine"), str(ROOT), env.get("PYTHONPATH", "")])
    env.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-m", "bench.train_scale", "--worker", json.dumps(cfg)], env=env,
                              cwd=ROOT, stdout=subprocess.PIPE, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"interactions": n_interactions, "error": f"timed out after {timeout_s:.0f} s"}
    if proc.returncode != 0:
        return {"interactions": n_interactions, "error": f"worker exited with {proc.returncode}"}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_s"] = round(time.perf_counter() - started, 1)
    result["loadavg_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    result["threads"] = threads
    return result


def _predict(points: list[tuple[float, float]], n: float) -> float:
    """The larger of a straight line through the two largest sizes and a power law through them:
    linear is right for ALS (work ~ events), the power law catches anything growing faster."""
    (n1, y1), (n2, y2) = points[-2], points[-1]
    slope = (y2 - y1) / (n2 - n1)
    linear = y2 + slope * (n - n2)
    power = y2 * (n / n2) ** (math.log(y2 / y1) / math.log(n2 / n1)) if y1 > 0 and y2 > 0 else linear
    return max(linear, power)


def _largest(points: list[tuple[float, float]], limit: float) -> float:
    """The largest n (events) whose predicted value stays under `limit` (bisection on the prediction)."""
    lo, hi = points[-1][0], points[-1][0]
    if _predict(points, lo) > limit:
        return 0.0
    while _predict(points, hi) <= limit and hi < 1e10:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _predict(points, mid) <= limit else (lo, mid)
    return lo


def extrapolate(results: list[dict]) -> dict | None:
    """An estimate, not a measurement: the largest tenant within 10 GB and 15 minutes."""
    ok = sorted((r for r in results if "error" not in r), key=lambda r: r["interactions"])
    if len(ok) < 2:
        return None
    per_row_s = max(r["deserialise_us_per_row"] for r in ok) / 1e6
    # Inside the Lambda the time is: reading (DynamoDB rows deserialised, plus the same read path as
    # here), the fits, the save. The network time of the queries is not counted.
    time_points = [(float(r["interactions"]), r["total_s"] + per_row_s * r["interactions"]) for r in ok]
    memory_points = [(float(r["interactions"]), r["peak_rss_mb"]) for r in ok]
    by_time = _largest(time_points, LAMBDA_TIMEOUT_S - LAMBDA_MARGIN_S)
    by_memory = _largest(memory_points, LAMBDA_MEMORY_MB)
    largest = min(by_time, by_memory)
    return {"estimate": True, "largest_events": int(largest), "binding": "memory" if by_memory < by_time else "time",
            "largest_by_time_events": int(by_time), "largest_by_memory_events": int(by_memory),
            "time_budget_s": LAMBDA_TIMEOUT_S - LAMBDA_MARGIN_S, "memory_mb": LAMBDA_MEMORY_MB,
            "deserialise_us_per_row": round(per_row_s * 1e6, 3),
            "from_sizes": [r["interactions"] for r in ok], "n_items": ok[-1]["n_items"], "cpus_here": os.cpu_count(),
            "artefact_mb_at_largest": round(_predict([(float(r["interactions"]), r["artefact_mb"]) for r in ok],
                                                     largest), 1) if largest else None}


def table(results: list[dict]) -> str:
    head = ("events", "read s", "split s", "eval fit s (tuning)", "evaluate s", "full fit s", "save s", "total s",
            "peak RSS MB", "artefact MB", "load avg")
    rows = [head]
    for r in results:
        if "error" in r:
            rows.append((f"{r['interactions']:,}", r["error"], *[""] * (len(head) - 2)))
            continue
        rows.append((f"{r['interactions']:,}", f"{r['read_s']:.1f}", f"{r['holdout_split_s']:.1f}",
                     f"{r.get('eval_fit_s', 0.0):.1f} ({r['tuning_s']:.1f})", f"{r.get('evaluate_s', 0.0):.1f}",
                     f"{r['full_fit_s']:.1f}", f"{r['save_s']:.1f}", f"{r['total_s']:.1f}", f"{r['peak_rss_mb']:,.0f}",
                     f"{r['artefact_mb']:.1f}", "->".join(f"{v:.1f}" for v in r["loadavg_1min"])))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(head))]
    lines = ["| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def describe(estimate: dict | None) -> str:
    if estimate is None:
        return "Extrapolation: needs at least two measured sizes."
    return (f"ESTIMATE (extrapolated from {', '.join(f'{n:,}' for n in estimate['from_sizes'])} events, not "
            f"measured): one 10 GB / 15-minute Lambda trains a tenant of up to about "
            f"{estimate['largest_events'] / 1e6:.1f}M events ({estimate['n_items']:,} items, 1 user per 20 events, "
            f"timed on {estimate['cpus_here']} CPUs here; a 10 GB Lambda has 6 vCPUs); "
            f"{estimate['binding']} binds first (time allows {estimate['largest_by_time_events'] / 1e6:.1f}M within "
            f"{estimate['time_budget_s']:.0f} s including {estimate['deserialise_us_per_row']:.1f} us/row of DynamoDB "
            f"deserialisation but not its network time; memory allows "
            f"{estimate['largest_by_memory_events'] / 1e6:.1f}M "
            f"in {estimate['memory_mb']:.0f} MB). The artefact would be about {estimate['artefact_mb_at_largest']} MB.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.train_scale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="0.1,1,5", help="millions of interactions, comma separated")
    parser.add_argument("--items", type=int, default=100_000, help="catalogue size (default 100k)")
    parser.add_argument("--threads", type=int, default=2, help="BLAS threads per worker")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per size before giving up")
    parser.add_argument("--no-catalogue", action="store_true", help="train without item metadata")
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    sizes = [int(round(float(s) * 1e6)) for s in args.sizes.split(",") if s.strip()]
    results = []
    for n in sizes:
        print(f".. {n:,} events over {args.items:,} items ({args.threads} BLAS threads)", file=sys.stderr, flush=True)
        results.append(run_size(n, args.items, args.threads, args.timeout, not args.no_catalogue))
        print(f"   {results[-1].get('wall_s', results[-1].get('error'))}", file=sys.stderr, flush=True)
    estimate = extrapolate(results)
    print(table(results))
    print()
    print(describe(estimate))
    if args.out:
        args.out.write_text(json.dumps({"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                                    "platform": platform.platform()},
                                        "sizes": results, "largest_tenant_estimate": estimate}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
