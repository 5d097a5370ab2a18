"""A Lambda timeout in the middle of a batch chunk, and its redelivery. Given a batch job whose chunks
wait on the SQS queue, when the worker's invocation is stopped at its timeout at some step of a
chunk (writing the S3 part, writing the users' lists, marking the chunk done, finishing the job)
and SQS then delivers every message again (at least once), then each chunk completes exactly once:
one S3 part per chunk, each user in exactly one line, one stored list per user, the job succeeded
with its progress at 1.0 and its batch lock released."""

from __future__ import annotations

import json

import boto3
import pytest

from local.gateway import LambdaContext, load_handler
from local.template import Route
from recengine.aws import dynamo
from recengine.batch import service as batch
from recengine.runtime import reset_runtime, runtime
from tests.conftest import load_event
from tests.faults.injector import LambdaTimeout
from tests.integration.conftest import route_event
from tests.conftest import invoke

CHUNK_USERS = 12


def _succeeded(params: dict) -> bool:
    return {"S": "succeeded"} in (params.get("ExpressionAttributeValues") or {}).values()


# where the timeout strikes -> (service, operation, table or object kind, which calls count)
STEPS = {
    "writing the S3 part": ("s3", "PutObject", "batch", None),
    "writing the users' lists": ("dynamodb", "BatchWriteItem", "Interactions", None),
    "marking the chunk done": ("dynamodb", "UpdateItem", "Models",
                               lambda p: "done_chunks" in p.get("UpdateExpression", "")),
    "finishing the job": ("dynamodb", "UpdateItem", "Models", _succeeded),
}


def worker():
    return load_handler(Route("BatchWorkerFunction", "functions/batch_worker/", "app.lambda_handler", "", "", False))


def queued_chunks(shop) -> list[dict]:
    """Starts a batch job whose chunk messages go to the batch queue; returns them as SQS records."""
    c = runtime()
    tenant = c.tenants.get_tenant(shop.caller.tenant_id)
    job = batch.start_batch_job(c.jobs, c.interactions, c.batch_dispatcher, tenant, timeouts=c.job_timeouts,
                                algorithm="hybrid", count=3, chunk_users=CHUNK_USERS, trigger="schedule",
                                bucket=c.settings.model_bucket)
    assert job["chunks"] >= 2
    sqs, url = boto3.client("sqs"), shop.env["BATCH_QUEUE_URL"]
    template = load_event("batch_chunk")["Records"][0]
    records = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for m in messages:
            records.append({**template, "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"],
                            "body": m["Body"]})
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert len(records) == job["chunks"]
    return sorted(records, key=lambda r: json.loads(r["body"])["chunk"])


def deliver(record: dict) -> dict:
    return worker()({"Records": [record]}, LambdaContext("batch-worker", timeout_s=900))


def output(shop, job_id: str) -> tuple[list[str], list[dict]]:
    s3, bucket = boto3.client("s3"), shop.env["MODEL_BUCKET"]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=batch.output_prefix(shop.caller.tenant_id, job_id))
    keys = sorted(o["Key"] for o in listed.get("Contents", []))
    return keys, [json.loads(line) for k in keys
                  for line in s3.get_object(Bucket=bucket, Key=k)["Body"].read().decode().splitlines()]


@pytest.mark.parametrize("step", list(STEPS))
def test_a_chunk_cut_short_by_the_lambda_timeout_completes_once_on_redelivery(shop, faults, step):
    service, operation, resource, when = STEPS[step]
    records = queued_chunks(shop)
    job_id = json.loads(records[0]["body"])["job_id"]
    fault = faults.inject(service, operation, resource=resource, when=when, nth=1, raise_=LambdaTimeout())
    cut = None
    for record in records:  # the first delivery; one invocation is stopped at its timeout
        try:
            assert deliver(record) == {"batchItemFailures": []}
        except LambdaTimeout:
            cut = record
            reset_runtime()  # the timed-out execution environment is not reused as it was
    assert fault.injected == 1 and cut is not None
    c = runtime()
    midway = batch.job_view(c.jobs.get_job(shop.caller.tenant_id, job_id))
    finished_before_the_cut = step == "finishing the job"  # the cut chunk was marked done already
    assert midway["status"] == "running"  # not finished yet
    assert midway["chunks_done"] == len(records) - (0 if finished_before_the_cut else 1)
    for record in [cut, *records]:  # SQS redelivers the cut message, and may deliver any again
        assert deliver(record) == {"batchItemFailures": []}
    job = c.jobs.get_job(shop.caller.tenant_id, job_id)
    view = batch.job_view(job)
    assert view["status"] == "succeeded" and view["chunks_done"] == view["chunks"] == len(records)
    assert view["progress"] == 1.0
    assert c.jobs.lock_holder(shop.caller.tenant_id, batch.KIND) is None
    keys, lines = output(shop, job_id)
    users = [line["user_id"] for line in lines]
    assert len(keys) == len(records) and len(users) == len(set(users)) == job["total_users"]
    assert all(c.stored_lists.get_list(shop.caller.tenant_id, u, "hybrid")["job_id"] == job_id for u in users)
    status, _, polled = invoke("GET", "/v1/recommendations/jobs/{job_id}", route_event(
        "GET", "/v1/recommendations/jobs/{job_id}", caller=shop.caller, path_params={"job_id": job_id}))
    assert status == 200 and polled["status"] == "succeeded" and polled["progress"] == 1.0


@pytest.mark.parametrize(("service", "operation", "resource", "kind", "times"), [
    ("s3", "PutObject", "batch", "slowdown", 1),
    # a throttle that outlasts the batch writer's own retries of unprocessed and throttled writes
    ("dynamodb", "BatchWriteItem", "Interactions", "throttling", dynamo.MAX_BATCH_ATTEMPTS),
    ("dynamodb", "Query", "Interactions", "timeout", 1),  # a user's history, while ranking the chunk
])
def test_a_chunk_failing_on_a_fault_is_reported_for_redelivery_and_completes_once(shop, faults, monkeypatch, service,
                                                                                   operation, resource, kind, times):
    monkeypatch.setattr(dynamo, "_sleep", lambda _s: None)  # the batch writer's backoff, instant
    records = queued_chunks(shop)
    job_id = json.loads(records[0]["body"])["job_id"]
    left = {"calls": times}

    def first_calls(_params: dict) -> bool:
        left["calls"] -= 1
        return left["calls"] >= 0

    fault = faults.inject(service, operation, kind, resource=resource, when=first_calls)
    first = [deliver(r) for r in records]
    failed = [r for r, out in zip(records, first) if out["batchItemFailures"]]
    assert fault.injected == times and len(failed) == 1
    assert first[records.index(failed[0])] == {"batchItemFailures": [{"itemIdentifier": failed[0]["messageId"]}]}
    assert deliver(failed[0]) == {"batchItemFailures": []}  # SQS redelivers only the failed message
    view = batch.job_view(runtime().jobs.get_job(shop.caller.tenant_id, job_id))
    assert view["status"] == "succeeded" and view["chunks_done"] == view["chunks"] and view["progress"] == 1.0
    keys, lines = output(shop, job_id)
    users = [line["user_id"] for line in lines]
    assert len(keys) == len(records) and len(users) == len(set(users)) == view["total_users"]
