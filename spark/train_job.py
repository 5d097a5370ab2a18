"""The Spark training job: one tenant's events in, exactly the Lambda trainer's model artefact out.

    spark-submit spark/train_job.py --events PATH [--items PATH] --out DIR --tenant-id T --model-id ID [--seed N]
    python -m spark.train_job ...          (local mode, `make train-spark`)

--events     Parquet (file or directory, local or s3://) with user_id, item_id, weight, ts (the
             DynamoDB export's columns; weight defaults to 1, ts to 0), or a ratings file in any
             format `make eval` reads (its positives, weight 1).
--items      optional catalogue: Parquet or JSON Lines with item_id, active, metadata (JSON string or
             struct). Adds content vectors, cold items and the catalogue snapshot, as in the Lambda.
--out        the artefact directory: a local path or s3://bucket/prefix/ (written file by file, the
             manifest last: its presence means the artefact is complete).
--tenant-id  --model-id  the ids the registry knows the version by (the model id goes in the manifest).
--seed       seeds tuning, the sampled users and MLlib (default 0).
--tune-budget-s  tuning's time budget (default 90, as the Lambda).
--master     Spark master when not under spark-submit (default local[*]).

What the Lambda's models.training.fit_tenant_model does, with the passes over all events in Spark:
the holdout (the last 20% of events of up to 500 users with >= 5 events) and a fit on the rest,
tuned by the engine's tune() on a driver-sized sample (all users below fits.DRIVER_MAX_EVENTS),
scored with the engine's evaluate_on_holdout; then the full fit with the chosen hyper-parameters.
Implicit ALS is MLlib's; the item-item Gram matrix is counted in Spark and inverted and pruned by
the engine; content, scales and the blend are the engine's. Beside the artefact, `training.json`
holds the holdout metrics and timings (what the registry record stores), written before the
manifest. Not carried over: the context model (events' contexts are ignored: context weights 0).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # spark-submit runs this file as a script: the checkout must be importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
from pyspark.sql import DataFrame, SparkSession  # noqa: E402
from pyspark.sql import functions as F

from recengine.catalogue.snapshot import write_snapshot
from recengine.engine.artefact import MANIFEST, save_model
from recengine.engine.holdout import MIN_EVENTS, held_out
from recengine.engine.training import TrainingData
from recengine.models.evaluation import MAX_EVAL_USERS, Holdout, evaluate_on_holdout

from spark.inputs import code_events, read_events, read_items  # noqa: E402
from spark.model import fit_model, params_of  # noqa: E402

# Above this many eligible users the evaluation sample is drawn in Spark (a seeded hash order)
# rather than by the Lambda's rule over the sorted user ids, which would collect them all.
EXACT_SAMPLE_LIMIT = 2_000_000
REPORT = "training.json"


def _log(info: dict) -> None:
    print(json.dumps({"job": "train-spark", **info}, default=str), file=sys.stderr, flush=True)


def _eval_users(events: DataFrame, seed: int = 0) -> list[str]:
    """models.evaluation.split_holdout's users: up to MAX_EVAL_USERS of those with >= MIN_EVENTS events,
    a seeded sample over their sorted ids (its seed is 0 there, whatever the training seed)."""
    eligible = events.groupBy("user_id").count().where(F.col("count") >= MIN_EVENTS).select("user_id")
    n = eligible.count()
    if n > EXACT_SAMPLE_LIMIT:
        return eligible.orderBy(F.xxhash64("user_id", F.lit(seed))).limit(MAX_EVAL_USERS) \
            .toArrow().column(0).to_pylist()
    ids = np.unique(np.asarray(eligible.toArrow().column(0).to_pylist(), dtype=str))
    if ids.size > MAX_EVAL_USERS:
        ids = ids[np.sort(np.random.default_rng(seed).choice(ids.size, MAX_EVAL_USERS, replace=False))]
    return ids.tolist()


def split_holdout(spark: SparkSession, events: DataFrame) -> tuple[DataFrame, Holdout]:
    """(training events without the held-out ones, the evaluation users' histories and hidden items),
    by the engine's held_out rule applied to the sampled users' events on the driver."""
    users = _eval_users(events)
    empty = TrainingData([], [], np.zeros(0), np.zeros(0))
    if not users:
        return events, Holdout(empty, [], [], 0)
    chosen = spark.createDataFrame(pa.table({"user_id": pa.array(users, pa.string())}))
    rows = events.join(F.broadcast(chosen), "user_id").select("user_id", "item_id", "weight", "ts", "seq").toArrow()
    _, codes = np.unique(np.asarray(rows.column("user_id").to_pylist(), dtype=str), return_inverse=True)
    items = np.asarray(rows.column("item_id").to_pylist(), dtype=object)
    weights, ts, seq = (rows.column(c).to_numpy() for c in ("weight", "ts", "seq"))
    held = held_out(codes, "time", timestamps=ts, arrival=seq)
    order = np.lexsort((seq, ts, codes))  # by user, then time, then arrival
    counts = np.bincount(codes)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    histories, hidden = [], []
    for user in range(counts.size):
        user_rows = order[starts[user]:starts[user] + counts[user]]
        seen = user_rows[~held[user_rows]]
        history = items[seen].tolist()
        targets = set(items[user_rows[held[user_rows]]].tolist()) - set(history)
        if targets:
            histories.append((history, [float(w) for w in weights[seen]]))
            hidden.append(targets)
    held_seq = spark.createDataFrame(pa.table({"seq": pa.array(seq[held].astype(np.int64))}))
    train = events.join(F.broadcast(held_seq), "seq", "left_anti")
    return train, Holdout(empty, histories, hidden, int(held.sum()))


def write_artefact(staging: Path, out_dir: str) -> list[str]:
    """Copies the staged files to a local `out_dir`, the manifest last, or uploads them to `s3://`
    as the Lambda trainer does (the files, the pack the serving cache fetches in one GET, the
    manifest last: models.artefacts.put_version); returns the names written, in order."""
    names = sorted((p.name for p in staging.iterdir()), key=lambda name: name == MANIFEST)
    if out_dir.startswith("s3://"):
        import boto3

        from recengine.models.artefacts import put_version

        bucket, _, prefix = out_dir[len("s3://"):].partition("/")
        prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        return put_version(boto3.client("s3"), bucket, prefix, [staging / name for name in names])
    target = Path(out_dir)
    target.mkdir(parents=True, exist_ok=True)
    (target / MANIFEST).unlink(missing_ok=True)  # an old manifest must not vouch for new files
    for name in names:
        shutil.copyfile(staging / name, target / name)
    return names


def run(spark: SparkSession, events_path: str, items_path: str | None, out_dir: str, tenant_id: str,
        model_id: str, seed: int = 0, *, tune_budget_s: float = 90.0, items_taken_at: float | None = None) -> dict:
    """Trains, evaluates and writes one tenant's artefact; returns its manifest (as written).

    `items_taken_at`: when the catalogue export was taken (the snapshot's time: every catalogue write
    after it must be in the change record); default the job's start."""
    started = time.time()
    stages: dict[str, float] = {}
    mark = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        stages[stage] = round(now - mark, 3)
        mark = now

    def emit(info: dict) -> None:
        _log({"tenant_id": tenant_id, "model_id": model_id, **info, "elapsed_s": round(time.time() - started, 2)})

    partitions = max(2, spark.sparkContext.defaultParallelism)
    rows = read_items(spark, items_path)
    catalogue = {r["item_id"]: r["metadata"] for r in rows or () if r.get("active", True)}
    coded = code_events(spark, read_events(spark, events_path), list(catalogue))
    lap("read")
    emit({"stage": "loaded", "users": coded.n_users, "items": int(coded.items.size), "catalogue_items": len(catalogue)})
    train, holdout = split_holdout(spark, coded.events)
    lap("holdout_split")
    metrics: dict = {"eval_users": 0}
    params = None
    eval_facts: dict = {}
    if holdout.users:
        emit({"stage": "evaluate", "eval_users": holdout.users, "holdout_events": holdout.held_events})
        eval_model, eval_facts = fit_model(train, coded.items, model_id, None, seed=seed, tune_budget_s=tune_budget_s,
                                           catalogue=catalogue, partitions=partitions,
                                           progress=lambda i: emit({**i, "fit": "holdout"}))
        lap("eval_fit")
        metrics = evaluate_on_holdout(eval_model, holdout)
        params = params_of(eval_model.meta)
        lap("evaluate")
        emit({"stage": "evaluated", **metrics})
        del eval_model
    model, facts = fit_model(coded.events, coded.items, model_id, params, seed=seed, tune_budget_s=tune_budget_s,
                             catalogue=catalogue, partitions=partitions, progress=lambda i: emit({**i, "fit": "full"}))
    lap("full_fit")
    coded.events.unpersist()
    metrics.update({"train_s": stages["full_fit"], "interactions": model.meta["interactions"],
                    "users": model.meta.get("users"), "items": model.n_items})
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp)
        save_model(model, staging)
        manifest = json.loads((staging / MANIFEST).read_text())
        if rows is not None:
            write_snapshot(staging, items_taken_at if items_taken_at is not None else started, rows)
        report = {"tenant_id": tenant_id, "model_id": model_id, "trainer": "spark", "spark_version": spark.version,
                  "metrics": {**metrics, "total_s": round(time.time() - started, 3)}, "stages_s": stages,
                  "spark": {"full": facts, "holdout": eval_facts}, "seed": seed}
        (staging / REPORT).write_text(json.dumps(report, sort_keys=True, default=float))
        write_artefact(staging, out_dir)
    lap("write")
    emit({"stage": "done", "out": out_dir, "metrics": metrics})
    return manifest


def local_session(master: str = "local[*]", driver_memory: str = "4g") -> SparkSession:
    """A local-mode session for the CLI and tests: loopback only, no UI, few shuffle partitions;
    the Python workers see the driver's sys.path (the engine layer and this checkout)."""
    path = os.pathsep.join(p for p in sys.path if p)
    builder = (SparkSession.builder.master(master).appName("recengine-train")
               .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
               .config("spark.driver.bindAddress", "127.0.0.1").config("spark.sql.shuffle.partitions", "8")
               .config("spark.executorEnv.PYTHONPATH", path).config("spark.driver.memory", driver_memory))
    os.environ["PYTHONPATH"] = path  # the local workers are forked with the driver's environment
    return builder.getOrCreate()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="spark/train_job.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", required=True)
    parser.add_argument("--items", default=None)
    parser.add_argument("--out", required=True)
    parser.add_argument("--tenant-id", required=True)
    parser.add_argument("--model-id", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tune-budget-s", type=float, default=90.0)
    parser.add_argument("--master", default=None, help="local[*] when not under spark-submit")
    parser.add_argument("--driver-memory", default=None, help="local mode only (default 4g)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    under_submit = "PYSPARK_GATEWAY_PORT" in os.environ  # spark-submit's JVM started this process: its conf rules
    spark = (SparkSession.builder.appName("recengine-train").getOrCreate() if under_submit and not args.master
             else local_session(args.master or "local[*]", args.driver_memory or "4g"))
    spark.sparkContext.setLogLevel("WARN")
    try:
        manifest = run(spark, args.events, args.items, args.out, args.tenant_id, args.model_id, args.seed,
                       tune_budget_s=args.tune_budget_s)
    finally:
        spark.stop()
    print(json.dumps({"model_id": manifest["model_id"], "n_items": manifest["n_items"],
                      "algorithm": manifest["meta"]["algorithm"], "out": args.out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
