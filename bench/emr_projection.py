"""Projected EMR Serverless wall time and cost of the Spark training job for tenants past what was
measured, from the local-mode scale runs (bench/results/spark_scale_local.json, made by
``python -m bench.spark_parity scale``) and a stated scaling model:

    python -m bench.emr_projection [--events 100e6 1e9] [--efficiency 0.7] [--runs FILE] [--out FILE]

The model, each assumption printed with the table:
- The job's distributed stages (read and holdout, MLlib ALS of both fits, the kept-item Gram) cost
  core-seconds in proportion to the events: at a fixed number of events per user, ALS's per-iteration
  work (nnz·k² for the products, (users + items)·k³ for the solves) and the Gram counting both grow
  linearly. The rate is taken from the largest run, as wall × cores (every core busy: an upper bound).
- The driver's stages (tuning on a capped sample, the EASE inverse and pruning of a capped item set,
  content, writing) do not grow with the tenant; they take what they took in the largest run.
- On EMR Serverless the distributed part divides over the executors' vCPUs at a parallel efficiency
  (default 0.7; Spark's ALS shuffles its factor blocks every half-iteration, so it does not scale
  perfectly); a vCPU is taken as fast as one core here. Workers start in about two minutes.
- Memory: the JVM's peak grows by the slope between the two runs per event; executors need that
  across them with Spark's usable fraction (0.6 of the heap) and 1.5× headroom.
- Billing: every worker held for the whole run (no dynamic release), per second, at the per-vCPU-hour
  and per-GB-hour prices below (x86_64, us-east-1; see README "What it costs" for where they come from).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

RUNS = Path(__file__).resolve().parent / "results" / "spark_scale_local.json"
VCPU_HOUR, GB_HOUR = 0.052624, 0.0057785  # USD, EMR Serverless x86_64, US East (N. Virginia)
DISTRIBUTED = ("read_holdout", "eval_als", "eval_gram_ease", "full_als", "full_gram_ease")
WORKER_VCPU, WORKER_GB = 4, 16
STARTUP_S = 120.0
CEILING = (32, 128)  # template.yaml SparkMaxCpu / SparkMaxMemory defaults: above them, raise the parameters
USABLE, HEADROOM = 0.6, 1.5


def rates(runs: list[dict]) -> dict:
    """Per-event core-seconds, the driver's fixed seconds and the JVM's bytes per event."""
    ordered = sorted(runs, key=lambda r: r["interactions"])
    small, large = ordered[0], ordered[-1]
    distributed_wall = sum(large["stages_s"][s] for s in DISTRIBUTED)
    per_event_gb = ((large["peak_rss_gb"]["jvm"] - small["peak_rss_gb"]["jvm"])
                    / max(large["interactions"] - small["interactions"], 1))
    return {"from": large["interactions"], "core_s_per_event": distributed_wall * large["cores"] / large["interactions"],
            "driver_s": large["wall_s"] - distributed_wall, "jvm_gb_per_event": per_event_gb,
            "jvm_fixed_gb": large["peak_rss_gb"]["jvm"] - per_event_gb * large["interactions"]}


def executors_for(events: float, model: dict, wanted: int) -> tuple[int, float]:
    """At least `wanted` executors, more if the events' data does not fit; and the memory it needs."""
    need_gb = model["jvm_gb_per_event"] * events * HEADROOM
    return max(wanted, math.ceil(need_gb / (WORKER_GB * USABLE))), need_gb


def project(events: float, executors: int, efficiency: float, model: dict) -> dict:
    executors, need_gb = executors_for(events, model, executors)
    vcpu, gb = (executors + 1) * WORKER_VCPU, (executors + 1) * WORKER_GB  # the driver is one more worker
    distributed = model["core_s_per_event"] * events / (executors * WORKER_VCPU * efficiency)
    wall = STARTUP_S + model["driver_s"] + distributed
    hours = wall / 3600
    return {"events": events, "within_default_ceiling": vcpu <= CEILING[0] and gb <= CEILING[1], "executors": executors, "vcpu": vcpu, "memory_gb": gb, "efficiency": efficiency,
            "data_memory_gb": round(need_gb, 1), "wall_s": round(wall), "distributed_s": round(distributed),
            "cost_usd": round(hours * (vcpu * VCPU_HOUR + gb * GB_HOUR), 2),
            "per_hour_usd": round(vcpu * VCPU_HOUR + gb * GB_HOUR, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default=str(RUNS), help="the scale runs' JSON")
    parser.add_argument("--events", nargs="+", type=float, default=[100e6, 1e9])
    parser.add_argument("--executors", nargs="+", type=int, default=[7, 32],
                        help="executors (4 vCPU / 16 GB each) per size, raised if the data needs more memory")
    parser.add_argument("--efficiency", nargs="+", type=float, default=[0.5, 0.7, 0.9])
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    runs = json.loads(Path(args.runs).read_text())["runs"]
    model = rates(runs)
    print(f"from {len(runs)} local runs (largest {model['from']:,} events): "
          f"{model['core_s_per_event'] * 1e6:.0f} core-µs per event in the distributed stages, "
          f"driver {model['driver_s']:.0f} s fixed, JVM {model['jvm_gb_per_event'] * 1e9:.0f} B per event "
          f"+ {model['jvm_fixed_gb']:.1f} GB")
    print(f"prices: ${VCPU_HOUR}/vCPU-hour, ${GB_HOUR}/GB-hour; workers {WORKER_VCPU} vCPU / {WORKER_GB} GB; "
          f"startup {STARTUP_S:.0f} s")
    print(f"{'events':>14} {'executors':>9} {'vCPU':>5} {'GB':>5} {'eff':>4} {'wall':>9} {'$/h':>6} {'cost':>8}  ceiling")
    rows = []
    executors = args.executors + [args.executors[-1]] * max(0, len(args.events) - len(args.executors))
    for events, wanted in zip(args.events, executors):
        for efficiency in args.efficiency:
            row = project(events, wanted, efficiency, model)
            rows.append(row)
            print(f"{events:>14,.0f} {row['executors']:>9} {row['vcpu']:>5} {row['memory_gb']:>5} {efficiency:>4.1f} "
                  f"{row['wall_s'] / 60:>7.1f} m {row['per_hour_usd']:>6.2f} {row['cost_usd']:>7.2f}$  "
                  f"{'default' if row['within_default_ceiling'] else 'raise SparkMaxCpu/SparkMaxMemory'}")
    if args.out:
        Path(args.out).write_text(json.dumps({"model": model, "projections": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
