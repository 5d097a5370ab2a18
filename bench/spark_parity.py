"""The Spark job's figures: quality parity with `make eval`'s default model, and local-mode scale.

    python -m bench.spark_parity parity [--data PATH] [--seed 0]      # both evaluations, then the table
    python -m bench.spark_parity parity --engine E.json --spark S.json  # the table from saved JSON
    python -m bench.spark_parity scale [--sizes 5] [--items 50000] [--driver-memory 12g]

parity runs ``python -m tools.evaluation --models default`` (make eval's default model) and
``python -m spark.evaluate`` (make eval-spark) one after the other on the same split and seed, and
prints NDCG@10 and Recall@20 of each with the relative difference (the goal: within 3%).
scale writes bench/synthetic.py's interactions (one user per 20 events, power-law items) as
Parquet, runs ``python -m spark.train_job`` on them in local mode and samples the resident memory
of the driver's Python process, the JVM (driver and executor in local mode) and the Python workers
every half second; it prints the wall time, the job's stage times and those peaks.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL = 0.03


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "layers" / "engine"), str(ROOT), env.get("PYTHONPATH", "")])
    return env


def _default(result: dict) -> dict:
    return result["models"][result["default_model"]]


def parity_table(engine: dict, spark: dict) -> str:
    lines = [f"dataset {engine['dataset']}, seed {engine['split']['seed']}, {engine['split']['test_users']:,} test users",
             f"{'metric':<10} {'make eval':>10} {'eval-spark':>10} {'diff':>8}  within {GOAL:.0%} or better"]
    for metric in ("ndcg@10", "recall@20", "ndcg@100", "coverage@20"):
        a, b = _default(engine)[metric], _default(spark)[metric]
        diff = (b - a) / a if a else 0.0
        lines.append(f"{metric:<10} {a:>10.4f} {b:>10.4f} {diff:>+8.2%}  {'yes' if abs(diff) <= GOAL or diff > 0 else 'NO'}")
    lines.append(f"{'train_s':<10} {_default(engine)['train_s']:>10.1f} {_default(spark)['train_s']:>10.1f}")
    return "\n".join(lines)


def parity(args: argparse.Namespace) -> int:
    if not (args.engine and args.spark):
        tmp = Path(tempfile.mkdtemp(prefix="spark-parity-"))
        data = ["--data", str(args.data)] if args.data else []
        args.engine, args.spark = tmp / "engine.json", tmp / "spark.json"
        subprocess.run([sys.executable, "-m", "tools.evaluation", "--models", "default", "--seed", str(args.seed),
                        "--out", str(args.engine), *data], env=_env(), cwd=ROOT, check=True)
        subprocess.run([sys.executable, "-m", "spark.evaluate", "--seed", str(args.seed), "--out", str(args.spark),
                        *data], env=_env(), cwd=ROOT, check=True)
    print(parity_table(json.loads(Path(args.engine).read_text()), json.loads(Path(args.spark).read_text())))
    return 0


# ---------------------------------------------------------------------------- scale
def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return out


class PeakSampler(threading.Thread):
    """Peak RSS of the job's process tree by role: the Python driver, the JVM, the Python workers."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peaks, self.stop = pid, {"python_driver_mb": 0.0, "jvm_mb": 0.0, "python_workers_mb": 0.0,
                                                  "total_mb": 0.0}, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            now = {"python_driver_mb": _rss_mb(self.pid), "jvm_mb": 0.0, "python_workers_mb": 0.0}
            pending = _children(self.pid)
            while pending:
                pid = pending.pop()
                pending.extend(_children(pid))
                try:
                    exe = os.readlink(f"/proc/{pid}/exe")
                except OSError:
                    continue
                now["jvm_mb" if "java" in exe else "python_workers_mb"] += _rss_mb(pid)
            now["total_mb"] = sum(now.values())
            for key, value in now.items():
                self.peaks[key] = max(self.peaks[key], value)
            time.sleep(0.5)


def scale_run(n_interactions: int, n_items: int, driver_memory: str, seed: int = 0) -> dict:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from bench.synthetic import SyntheticSpec, generate, item_names, user_names

    with tempfile.TemporaryDirectory() as tmp:
        syn = generate(SyntheticSpec(n_interactions=n_interactions, n_items=n_items, seed=seed))
        events = Path(tmp) / "events.parquet"
        pq.write_table(pa.table({"user_id": user_names(syn.spec.users)[syn.user_idx].tolist(),
                                 "item_id": item_names(n_items)[syn.item_idx].tolist(),
                                 "weight": syn.weights, "ts": syn.timestamps}), events, row_group_size=1 << 20)
        del syn
        out = Path(tmp) / "artefact"
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "spark.train_job", "--events", str(events), "--out", str(out),
                                 "--tenant-id", "bench", "--model-id", "bench", "--seed", str(seed),
                                 "--driver-memory", driver_memory], env=_env(), cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        sampler = PeakSampler(proc.pid)
        sampler.start()
        stdout, stderr = proc.communicate()
        wall = time.perf_counter() - started
        sampler.stop.set()
        if proc.returncode != 0:
            return {"interactions": n_interactions, "error": stderr[-2000:]}
        report = json.loads((out / "training.json").read_text())
        size = sum(p.stat().st_size for p in out.iterdir())
    return {"interactions": n_interactions, "items": n_items, "wall_s": round(wall, 1),
            "stages_s": report["stages_s"], "spark": report["spark"], "metrics": report["metrics"],
            "peak_rss": {k: round(v) for k, v in sampler.peaks.items()}, "artefact_mb": round(size / 2**20, 1),
            "driver_memory": driver_memory, "cores": os.cpu_count(), "np": np.__version__}


def scale(args: argparse.Namespace) -> int:
    results = []
    for size in args.sizes:
        result = scale_run(int(size * 1_000_000), args.items, args.driver_memory)
        results.append(result)
        print(json.dumps(result), flush=True)
    print(f"{'events':>8} {'wall s':>8} {'eval fit':>9} {'full fit':>9} {'JVM MB':>8} {'py driver MB':>12} "
          f"{'py workers MB':>13} {'ndcg@10':>8}")
    for r in results:
        if "error" in r:
            print(f"{r['interactions']:>8,} failed: {r['error'][-300:]}")
            continue
        p = r["peak_rss"]
        print(f"{r['interactions']:>8,} {r['wall_s']:>8.0f} {r['stages_s'].get('eval_fit', 0):>9.0f} "
              f"{r['stages_s']['full_fit']:>9.0f} {p['jvm_mb']:>8} {p['python_driver_mb']:>12} "
              f"{p['python_workers_mb']:>13} {r['metrics'].get('ndcg@10', 0):>8.4f}")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.spark_parity", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("parity")
    p.add_argument("--data", type=Path, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--engine", type=Path, default=None, help="make eval's JSON (skip running it)")
    p.add_argument("--spark", type=Path, default=None, help="make eval-spark's JSON (skip running it)")
    s = sub.add_parser("scale")
    s.add_argument("--sizes", type=lambda v: [float(x) for x in v.split(",")], default=[5.0],
                   help="millions of interactions, comma separated")
    s.add_argument("--items", type=int, default=50_000)
    s.add_argument("--driver-memory", default="12g")
    s.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    return parity(args) if args.command == "parity" else scale(args)


if __name__ == "__main__":
    sys.exit(main())
