"""`make eval`'s protocol for the Spark-trained model: ``python -m spark.evaluate [--data PATH] [--out JSON]
[--seed 0] [--artefact DIR]``.

The same ratings file, split and metrics as ``python -m tools.evaluation --models default`` and the
same JSON shape; the default model is trained by the Spark job (spark/train_job.py) on the split's
training part, written as an artefact, loaded back by the serving path's loader
(recengine.engine.artefact.load_model) and ranked through RecommenderModel.recommend."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq

from recengine.engine.artefact import load_model
from tools.evaluation.__main__ import EngineDefault, Log, format_table, run

from .inputs import events_table
from .train_job import local_session
from .train_job import run as train_on_spark


class SparkDefault(EngineDefault):
    """The engine's default model, trained on Spark and served from its artefact."""

    def __init__(self, spark, seed: int, artefact: Path):
        super().__init__(seed)
        self.spark = spark
        self.artefact = artefact

    def train(self, train, log=None):
        with tempfile.TemporaryDirectory() as tmp:
            events = Path(tmp) / "events.parquet"
            ts = train.timestamps if train.timestamps is not None else [0.0] * len(train)
            pq.write_table(events_table(train.users, train.items, train.weights, ts), events)
            manifest = train_on_spark(self.spark, str(events), None, str(self.artefact), "eval", "eval-spark",
                                      self.seed)
        if log:
            log(f"spark: artefact {self.artefact} ({manifest['meta']['algorithm']}, {manifest['n_items']} items)")
        return load_model(self.artefact)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m spark.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="ratings file (as make eval; default its default)")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--artefact", type=Path, default=None, help="keep the artefact here (default a temp dir)")
    parser.add_argument("--master", default="local[*]")
    args = parser.parse_args(argv)
    args.models, args.weighting = ["default"], "binary"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    log = Log()
    spark = local_session(args.master)
    spark.sparkContext.setLogLevel("WARN")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            artefact = args.artefact or Path(tmp) / "artefact"
            result = run(args, log, build=lambda names, seed: [SparkDefault(spark, seed, artefact)])
    finally:
        spark.stop()
    result["trainer"] = "spark"
    print(format_table(result), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
