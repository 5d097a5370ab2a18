"""The EMR job run's entry point on moto: given a tenant's events, catalogue and a user the portal
marked inactive, when the run starts with the arguments the dispatcher gives it, then the tenant's
data is exported as Parquet (the inactive user's events left out) and the Spark job is called with
the export's paths and the artefact's prefix. (The Spark job itself is spark/'s, tested there.)"""

from __future__ import annotations

import io
import json
import sys
import types

import boto3
import pyarrow.parquet as pq

from emr import entry
from local.provision import create_spark_application
from recengine.models.spark_training import SparkConfig
from recengine.portal.end_users import EndUser, EndUserStore
from recengine.runtime import runtime
from tests.integration.conftest import seed_shop


class FakeSession:
    """Stands in for the SparkSession the job run gets (the Spark job is not under test here)."""

    stopped = False

    class builder:  # noqa: N801 - SparkSession.builder's shape
        @staticmethod
        def appName(name):  # noqa: N802
            return FakeSession.builder

        @staticmethod
        def getOrCreate():  # noqa: N802
            return FakeSession

    @classmethod
    def stop(cls):
        cls.stopped = True


def test_the_entry_point_exports_the_tenants_data_then_runs_the_spark_job(aws, call, monkeypatch):
    caller = aws.tenant("shop")
    data = seed_shop(call, caller, users=12, items=20, events=5)
    quiet = data.interactions[0]["user_id"]
    EndUserStore(aws.env["INTERACTIONS_TABLE"]).insert(caller.tenant_id, EndUser(
        quiet, "q@example.com", "Q", "user", False, 1.0, 1.0))
    calls = []
    job = types.ModuleType("spark.train_job")
    job.run = lambda *args, **kwargs: calls.append((args, kwargs)) or {"model_id": args[5]}
    monkeypatch.setitem(sys.modules, "spark", types.ModuleType("spark"))
    monkeypatch.setitem(sys.modules, "spark.train_job", job)
    sql = types.ModuleType("pyspark.sql")
    sql.SparkSession = FakeSession
    monkeypatch.setitem(sys.modules, "pyspark", types.ModuleType("pyspark"))
    monkeypatch.setitem(sys.modules, "pyspark.sql", sql)
    bucket = aws.env["MODEL_BUCKET"]
    config = SparkConfig("arn:aws:iam::123456789012:role/r", f"s3://{bucket}/spark/", bucket, seed=3)
    argv = config.arguments(caller.tenant_id, "train-abc", "model_hybrid-v2_x",
                            (aws.env["INTERACTIONS_TABLE"], aws.env["ITEMS_TABLE"]))

    assert entry.main(argv) == {"model_id": "model_hybrid-v2_x"}

    (((spark, events_path, items_path, out, tenant_id, model_id, seed), kwargs),) = calls
    summary = json.loads(boto3.client("s3").get_object(Bucket=aws.env["MODEL_BUCKET"], Key=(
        f"exports/{caller.tenant_id}/train-abc/_export.json"))["Body"].read())
    assert kwargs == {"items_taken_at": summary["items_taken_at"]}  # the catalogue snapshot's time
    prefix = f"exports/{caller.tenant_id}/train-abc/"
    assert (spark, tenant_id, model_id, seed) == (FakeSession, caller.tenant_id, "model_hybrid-v2_x", 3)
    assert events_path == f"s3://{bucket}/{prefix}events/" and items_path == f"s3://{bucket}/{prefix}items/"
    assert out == f"s3://{bucket}/tenants/{caller.tenant_id}/models/model_hybrid-v2_x/"
    s3 = boto3.client("s3")
    events = pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=prefix + "events/part-00000.parquet")
                                      ["Body"].read()))
    users = set(events.column("user_id").to_pylist())
    assert quiet not in users and users
    kept = [e for e in data.interactions if e["user_id"] != quiet]
    assert events.num_rows == len(kept) == len([r for r in runtime().interactions.tenant_events(caller.tenant_id)
                                                 if r["user_id"] != quiet])
    assert FakeSession.stopped


def test_the_dispatchers_arguments_are_what_the_entry_point_parses(aws, configure):
    configure(**create_spark_application("test"))
    config = SparkConfig("arn:aws:iam::123456789012:role/r", "s3://b/spark/", "b")
    args = entry.parse(config.arguments("t1", "train-1", "model_hybrid-v1_x", ("events", "items")))
    assert (args.tenant_id, args.job_id, args.model_id, args.bucket) == ("t1", "train-1", "model_hybrid-v1_x", "b")
    assert (args.interactions_table, args.items_table, args.export_prefix) == ("events", "items", "exports/t1/train-1/")
    assert args.out == "s3://b/tenants/t1/models/model_hybrid-v1_x/"
