"""Training on EMR Serverless (moto): given a tenant whose last training read more events than one
Lambda trains, when the schedule fires, then it gets one Spark run (tagged with its job) and a small
tenant still goes to the train queue; when EventBridge reports the run's end, the artefact it wrote
is registered through the promotion guard, or the job fails, and the tenant's lock is freed."""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

import boto3
import numpy as np
import pytest

from local.gateway import LambdaContext, load_handler
from local.provision import create_spark_application
from local.template import Route
from recengine.engine.artefact import MANIFEST, save_model
from recengine.events.model import EventIn
from recengine.events.service import record_interactions
from recengine.models.export_store import ExportStore, export_prefix
from recengine.models.spark_training import export_training_data
from recengine.models.training import fit_tenant_model, read_training_data
from recengine.runtime import runtime
from tests.conftest import load_event
from tests.integration.conftest import FAST
from tests.integration.models.test_scheduled_training import schedule, small_tenant

COMPLETE = Route("TrainCompleteFunction", "functions/train_complete/", "app.lambda_handler", "", "", False)


@pytest.fixture
def spark(aws, configure) -> dict:
    env = create_spark_application("test")
    configure(MAX_LAMBDA_TRAINING_EVENTS="5000000", **env)
    return env


def big_tenant(aws, name: str = "big", events: int = 9_000_000, metrics: dict | None = None) -> str:
    """A tenant with new events (30 users, 8 each: enough to hold some out) whose live version was
    trained on `events` events."""
    tenant_id = aws.tenant(name).tenant_id
    rng = np.random.default_rng(7)
    c = runtime()
    history = [EventIn(item_id=f"i{int(rng.integers(20))}", type="click", user_id=f"u{u}", event_id=f"e{u}-{k}",
                       timestamp=1.7e9 + u * 10 + k) for u in range(30) for k in range(8)]
    record_interactions(c.interactions, c.seen_users, c.pseudonyms, tenant_id, history)
    registry = runtime().registry
    registry.put_version(tenant_id, {"model_id": "model_hybrid-v1_big", "version": 1, "status": "live",
                                     "interactions": events, **({"metrics": metrics} if metrics else {})})
    registry.put_row({"tenant_id": tenant_id, "model_id": "LIVE", "live_model_id": "model_hybrid-v1_big"})
    return tenant_id


def run_ended(spark: dict, run_id: str, state: str = "SUCCESS") -> dict:
    event = {"version": "0", "source": "aws.emr-serverless", "detail-type": "EMR Serverless Job Run State Change",
             "detail": {"jobRunId": run_id, "applicationId": spark["SPARK_APPLICATION_ID"], "state": state}}
    return load_handler(COMPLETE)(event, LambdaContext("complete"))


def write_artefact(tenant_id: str, model_id: str, metrics: dict | None, report: bool = True) -> None:
    """What the Spark run leaves: the artefact of the tenant's data, built here with the Lambda
    trainer's own code, the holdout metrics in `training.json` (as spark/train_job.py writes them),
    the manifest uploaded last."""
    c = runtime()
    data, _ = read_training_data(c.interactions, tenant_id)
    fitted = fit_tenant_model(data, model_id, params=FAST)
    with tempfile.TemporaryDirectory() as tmp:
        files = save_model(fitted.model, Path(tmp))
        if report:
            written = Path(tmp) / "training.json"
            written.write_text(json.dumps({"tenant_id": tenant_id, "model_id": model_id, "trainer": "spark",
                                           "metrics": metrics or fitted.metrics}))
            files.append(written)
        files.sort(key=lambda path: path.name == MANIFEST)
        c.artefacts.upload(tenant_id, model_id, files)


def test_a_large_tenant_starts_one_spark_run_and_a_small_one_is_queued_for_a_lambda(aws, spark):
    big, small = big_tenant(aws), small_tenant(aws, "small", 2)
    summary = schedule()
    assert [q["tenant_id"] for q in summary["queued"]] == [small]
    (started,) = summary["spark"]
    assert started["tenant_id"] == big and summary["too_large"] == []
    c = runtime()
    job = c.jobs.get_job(big, started["job_id"])
    assert job["status"] == "running" and job["runner"] == "spark" and job["job_run_id"] == started["job_run_id"]
    assert c.jobs.lock_holder(big, "train") == started["job_id"]  # one training per tenant, on either runner
    assert c.registry.get_version(big, job["target_model_id"])["status"] == "training"
    run = boto3.client("emr-serverless").get_job_run(applicationId=spark["SPARK_APPLICATION_ID"],
                                                    jobRunId=started["job_run_id"])["jobRun"]
    assert run["tags"] == {"tenant_id": big, "job_id": started["job_id"], "model_id": job["target_model_id"]}
    assert run["executionRole"] == spark["SPARK_JOB_ROLE_ARN"]
    assert run["jobDriver"]["sparkSubmit"]["entryPoint"] == f"s3://{aws.env['MODEL_BUCKET']}/spark/entry.py"
    arguments = run["jobDriver"]["sparkSubmit"]["entryPointArguments"]
    assert arguments[arguments.index("--model-id") + 1] == job["target_model_id"]


def test_a_tenant_with_a_spark_run_in_progress_is_not_started_twice(aws, spark):
    big = big_tenant(aws)
    first = schedule()["spark"][0]
    again = schedule()
    assert again["spark"] == [] and again["busy"] == [{"tenant_id": big, "job_id": first["job_id"]}]


def test_without_a_spark_application_a_large_tenant_is_reported_as_before(aws, configure):
    big = big_tenant(aws)
    configure(MAX_LAMBDA_TRAINING_EVENTS="5000000", SPARK_APPLICATION_ID=None)
    summary = schedule()
    assert summary["too_large"] == [{"tenant_id": big, "events": 9_000_000}] and summary["spark"] == []


def test_a_run_that_cannot_start_fails_its_job_and_frees_the_tenant(aws, spark, configure):
    big = big_tenant(aws)
    configure(SPARK_APPLICATION_ID="no-such-application")
    with pytest.raises(RuntimeError):
        schedule()
    c = runtime()
    (job,) = c.jobs.jobs(big, "train")
    assert job["status"] == "failed" and c.jobs.lock_holder(big, "train") is None
    assert c.registry.get_version(big, job["target_model_id"])["status"] == "failed"


def test_a_successful_run_registers_its_version_through_the_promotion_guard(aws, spark):
    big = big_tenant(aws)
    started = schedule()["spark"][0]
    c = runtime()
    job = c.jobs.get_job(big, started["job_id"])
    write_artefact(big, job["target_model_id"], None)
    assert run_ended(spark, started["job_run_id"]) == {"job_id": job["job_id"], "status": "succeeded"}
    c = runtime()
    assert c.registry.live_model_id(big) == job["target_model_id"]  # the old live one had no holdout metrics
    version = c.registry.get_version(big, job["target_model_id"])
    assert version["status"] == "live" and version["metrics"]["eval_users"] > 0
    assert version["artefact"] == f"s3://{aws.env['MODEL_BUCKET']}/tenants/{big}/models/{job['target_model_id']}/"
    assert c.jobs.get_job(big, job["job_id"])["status"] == "succeeded" and c.jobs.lock_holder(big, "train") is None
    assert c.markers.marker(big)["trained_through"] == job["trained_through"] == c.interactions.latest_sort_key(big)
    model = c.models.get(big)  # the serving path loads it unchanged
    assert model is not None and model.model_id == job["target_model_id"]
    assert schedule()["spark"] == []  # nothing newer: up to date


def test_a_run_worse_than_live_stays_candidate(aws, spark):
    big = big_tenant(aws, metrics={"recall@20": 0.9, "ndcg@10": 0.9})
    started = schedule()["spark"][0]
    job = runtime().jobs.get_job(big, started["job_id"])
    write_artefact(big, job["target_model_id"], {"recall@20": 0.1, "ndcg@10": 0.1, "eval_users": 5})
    assert run_ended(spark, started["job_run_id"])["status"] == "succeeded"
    c = runtime()
    assert c.registry.live_model_id(big) == "model_hybrid-v1_big"
    version = c.registry.get_version(big, job["target_model_id"])
    assert version["status"] == "candidate" and "below the live model" in version["promotion_reason"]


def test_a_failed_run_fails_its_job_and_frees_the_tenants_claim(aws, spark):
    big = big_tenant(aws)
    started = schedule()["spark"][0]
    boto3.client("emr-serverless").cancel_job_run(applicationId=spark["SPARK_APPLICATION_ID"],
                                                  jobRunId=started["job_run_id"])
    assert run_ended(spark, started["job_run_id"], "CANCELLED")["status"] == "failed"
    c = runtime()
    job = c.jobs.get_job(big, started["job_id"])
    assert job["status"] == "failed" and "CANCELLED" in job["error"]
    assert c.jobs.lock_holder(big, "train") is None
    assert c.registry.get_version(big, job["target_model_id"])["status"] == "failed"
    assert c.registry.live_model_id(big) == "model_hybrid-v1_big"
    assert schedule()["spark"][0]["tenant_id"] == big  # the next schedule tries again


def test_a_successful_run_without_an_artefact_fails_its_job(aws, spark):
    big = big_tenant(aws)
    started = schedule()["spark"][0]
    assert run_ended(spark, started["job_run_id"])["status"] == "failed"
    assert runtime().jobs.lock_holder(big, "train") is None


def test_a_repeated_event_changes_nothing(aws, spark):
    big = big_tenant(aws)
    started = schedule()["spark"][0]
    write_artefact(big, runtime().jobs.get_job(big, started["job_id"])["target_model_id"], None)
    run_ended(spark, started["job_run_id"])
    before = runtime().jobs.get_job(big, started["job_id"])
    assert run_ended(spark, started["job_run_id"]) == {"ignored": True}
    assert runtime().jobs.get_job(big, started["job_id"]) == before


def test_a_spark_job_is_not_timed_out_by_the_lambda_jobs_timeout(aws, spark):
    from recengine.models.job_status import JobTimeouts, get_job

    big = big_tenant(aws)
    started = schedule()["spark"][0]
    c = runtime()
    job = c.jobs.get_job(big, started["job_id"])
    later = job["started_at"] + 3600  # an hour: past JOB_TIMEOUT_S, within the run's own timeout
    assert get_job(c.jobs, big, job["job_id"], timeouts=JobTimeouts(1200, 1200), now=later)["status"] == "running"
    past = job["started_at"] + job["timeout_s"] + 1
    assert get_job(c.jobs, big, job["job_id"], timeouts=JobTimeouts(1200, 1200), now=past)["status"] == "failed"
    assert c.jobs.lock_holder(big, "train") is None


def test_the_export_writes_the_tenants_events_and_catalogue_as_parquet(aws, call):
    import pyarrow.parquet as pq

    from tests.integration.conftest import seed_shop

    caller = aws.tenant("shop")
    data = seed_shop(call, caller, users=20, items=30, events=5)
    c = runtime()
    prefix = export_prefix(caller.tenant_id, "train-x")
    exports = ExportStore(aws.env["MODEL_BUCKET"])
    summary = export_training_data(c.interactions, c.items, exports, caller.tenant_id, prefix, rows_per_file=40)
    s3 = boto3.client("s3")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=aws.env["MODEL_BUCKET"], Prefix=prefix)["Contents"])
    parts = [k for k in keys if "/events/" in k]
    assert len(parts) == summary["parts"] > 1 and keys[0] == prefix + "_export.json"
    tables = [pq.read_table(io.BytesIO(s3.get_object(Bucket=aws.env["MODEL_BUCKET"], Key=k)["Body"].read()))
              for k in parts]
    rows = sum(t.num_rows for t in tables)
    stored = list(c.interactions.tenant_events(caller.tenant_id))
    assert rows == summary["events"] == len(stored) == len(data.interactions)
    assert tables[0].column_names == ["user_id", "item_id", "weight", "ts", "type", "context"]
    assert summary["last_sk"] == stored[-1]["sk"]
    items = pq.read_table(io.BytesIO(s3.get_object(Bucket=aws.env["MODEL_BUCKET"],
                                                   Key=prefix + "items/part-00000.parquet")["Body"].read()))
    assert items.num_rows == summary["items"] == len(data.items)
    assert exports.read_summary(prefix) == summary


def test_the_sweep_completes_a_run_whose_end_was_never_delivered(aws, spark):
    """Run-state events are best effort: the scheduled sweep finds the ended run and registers it."""
    big = big_tenant(aws)
    started = schedule()["spark"][0]
    job = runtime().jobs.get_job(big, started["job_id"])
    write_artefact(big, job["target_model_id"], None)
    sweep = load_handler(COMPLETE)(load_event("train_schedule"), LambdaContext("complete"))
    assert sweep == {"completed": [{"tenant_id": big, "job_id": job["job_id"], "status": "succeeded"}], "running": 0}
    assert runtime().registry.live_model_id(big) == job["target_model_id"]
    assert load_handler(COMPLETE)(load_event("train_schedule"), LambdaContext("complete")) == {"completed": [],
                                                                                             "running": 0}


def test_a_tenant_whose_lambda_training_died_of_its_size_goes_to_spark_next(aws, spark):
    """Its first training (no live version) went to a Lambda and timed out while fitting: the version
    row it left says how many events it read, and the next schedule starts a Spark run."""
    tenant_id = small_tenant(aws, "sudden", 4)
    runtime().registry.put_version(tenant_id, {"model_id": "model_hybrid-v1_died", "version": 1,
                                               "status": "training", "interactions": 20_000_000})
    summary = schedule()
    assert [s["tenant_id"] for s in summary["spark"]] == [tenant_id] and summary["queued"] == []


def test_a_run_without_its_holdout_report_stays_candidate_beside_an_evaluated_live_model(aws, spark):
    big = big_tenant(aws, metrics={"recall@20": 0.2, "ndcg@10": 0.2})
    started = schedule()["spark"][0]
    job = runtime().jobs.get_job(big, started["job_id"])
    write_artefact(big, job["target_model_id"], None, report=False)
    assert run_ended(spark, started["job_run_id"])["status"] == "succeeded"
    version = runtime().registry.get_version(big, job["target_model_id"])
    assert version["status"] == "candidate" and "no holdout metrics" in version["promotion_reason"]


def test_a_completion_retried_after_registering_does_not_register_again(aws, spark, monkeypatch):
    """The first attempt made the version live, then failed (retention's S3 call): EventBridge retries,
    and the retry finishes the job without turning the live version back into a candidate."""
    from recengine.models import spark_training

    big = big_tenant(aws)
    started = schedule()["spark"][0]
    job = runtime().jobs.get_job(big, started["job_id"])
    write_artefact(big, job["target_model_id"], None)

    def retention_fails(*args, **kwargs):
        raise RuntimeError("S3 unavailable")

    with monkeypatch.context() as patched:
        patched.setattr(spark_training, "apply_retention", retention_fails)
        with pytest.raises(RuntimeError):
            run_ended(spark, started["job_run_id"])
    assert runtime().registry.live_model_id(big) == job["target_model_id"]
    assert run_ended(spark, started["job_run_id"])["status"] == "succeeded"
    c = runtime()
    assert c.registry.get_version(big, job["target_model_id"])["status"] == "live"
    assert c.registry.live_model_id(big) == job["target_model_id"] and c.jobs.lock_holder(big, "train") is None
