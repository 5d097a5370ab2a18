"""The EMR Serverless job run's entry point (s3://<model bucket>/spark/entry.py): exports the tenant's events
and catalogue from DynamoDB as Parquet (recengine.models.spark_training.export_training_data, on
the driver), then trains with `spark.train_job.run`, which writes the artefact, manifest last. The
completion handler registers it when EventBridge reports the run's end; arguments come from
SparkConfig.arguments. Deploy: README, "When a tenant moves to Spark"."""

from __future__ import annotations

import argparse


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("tenant-id", "job-id", "model-id", "bucket", "export-prefix", "interactions-table", "items-table",
                 "out"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    from pyspark.sql import SparkSession

    from recengine.catalogue.store import ItemStore
    from recengine.events.store import InteractionStore
    from recengine.models.export_store import ExportStore
    from recengine.models.spark_training import export_training_data
    from recengine.portal.end_users import EndUserStore
    from recengine.portal.users import inactive_user_ids
    from spark.train_job import run

    args = parse(argv)
    # the events are read from the interactions table's by_tenant index; the sessions table is never read
    excluded = inactive_user_ids(EndUserStore(args.interactions_table), args.tenant_id)
    summary = export_training_data(InteractionStore(args.interactions_table, args.interactions_table),
                                   ItemStore(args.items_table), ExportStore(args.bucket), args.tenant_id,
                                   args.export_prefix, excluded_users=excluded)
    spark = SparkSession.builder.appName(f"recengine-train-{args.tenant_id}").getOrCreate()
    try:
        return run(spark, summary["events_path"], summary["items_path"], args.out, args.tenant_id, args.model_id,
                   args.seed, items_taken_at=summary["items_taken_at"])
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
