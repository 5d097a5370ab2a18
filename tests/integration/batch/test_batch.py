"""Batch generation: given a trained tenant, when a batch job runs in chunks (and a chunk fails
and is redelivered), then every user's list lands once in S3 and recommend can serve it."""

from __future__ import annotations

import json

import boto3
import pytest

from local.gateway import LambdaContext, load_handler
from local.template import Route
from recengine.batch import service as batch
from recengine.aws.queue import QueueSender
from recengine.runtime import runtime
from tests.conftest import load_event
from tests.integration.conftest import seed_tenant, train


@pytest.fixture
def trained(aws, api):
    caller = aws.tenant("shop")
    data = seed_tenant(api, caller, users=23, items=40, events=8)
    train(caller)
    return caller, data


def parts(caller, job_id):
    c = runtime()
    s3 = boto3.client("s3")
    listed = s3.list_objects_v2(Bucket=c.artefacts.bucket, Prefix=batch.output_prefix(caller.tenant_id, job_id))
    keys = sorted(o["Key"] for o in listed.get("Contents", []))
    return keys, [json.loads(line) for k in keys
                  for line in s3.get_object(Bucket=c.artefacts.bucket, Key=k)["Body"].read().decode().splitlines()]


def tenant(caller):
    return runtime().tenants.get_tenant(caller.tenant_id)


def capture_messages(monkeypatch):
    sent: list[dict] = []
    monkeypatch.setitem(runtime().__dict__, "batch_dispatcher", sent.extend)
    return sent


def run(message):
    c = runtime()
    return batch.process_chunk(c.ranking, c.jobs, c.stored_lists, c.artefacts, message)


def test_a_job_is_split_into_chunks_of_users(trained, monkeypatch):
    caller, data = trained
    sent = capture_messages(monkeypatch)
    c = runtime()
    job = batch.start_batch_job(c.jobs, c.interactions, c.batch_dispatcher, tenant(caller), timeouts=c.job_timeouts,
                                algorithm="hybrid", count=5, chunk_users=10)
    users = sorted({e["user_id"] for e in data.interactions})
    assert job["total_users"] == len(users) == 23 and job["chunks"] == 3 and job["status"] == "queued"
    assert [m["chunk"] for m in sent] == [0, 1, 2] and [len(m["user_ids"]) for m in sent] == [10, 10, 3]
    assert sum((m["user_ids"] for m in sent), []) == users


def test_generate_answers_202_and_the_job_reports_progress_and_output(trained, api, configure):
    caller, data = trained
    configure(BATCH_DISPATCH="inline")
    status, headers, job = api("POST", "/v1/recommendations/generate", caller=caller,
                               body={"algorithm": "hybrid", "count": 5})
    assert status == 202 and headers["Location"] == job["status_url"] and job["job_id"].startswith("batch-")
    status, _, done = api("GET", "/v1/recommendations/jobs/{job_id}", caller=caller,
                          path_params={"job_id": job["job_id"]})
    assert status == 200 and done["status"] == "succeeded" and done["progress"] == 1.0
    assert done["chunks_done"] == done["chunks"] == 1 and done["output"].endswith(f"/batch/{job['job_id']}/")
    keys, rows = parts(caller, job["job_id"])
    assert len(keys) == 1 and len(rows) == 23 and all(len(r["items"]) == 5 for r in rows)


def test_a_segment_is_generated_and_recommend_serves_the_precomputed_list(trained, api, configure):
    caller, data = trained
    configure(BATCH_DISPATCH="inline")
    user = data.interactions[0]["user_id"]
    _, _, job = api("POST", "/v1/recommendations/generate", caller=caller,
                    body={"user_ids": [user, "someone-new"], "count": 4, "algorithm": "collaborative"})
    assert job["total_users"] == 2
    _, rows = parts(caller, job["job_id"])
    mine = next(r for r in rows if r["user_id"] == user)
    status, _, body = api("POST", "/v1/recommend", caller=caller,
                          body={"user_id": user, "source": "batch", "algorithm": "collaborative", "limit": 3})
    assert status == 200 and body["meta"]["source"] == "batch" and body["items"] == mine["items"][:3]
    assert body["meta"]["model_id"] == mine["model_id"]
    # Without a precomputed list (another algorithm), the live model answers with a warning.
    _, _, live = api("POST", "/v1/recommend", caller=caller, body={"user_id": user, "source": "batch"})
    assert live["meta"]["source"] == "model" and live["warnings"][0]["code"] == "no_batch" and live["items"]


def test_a_failed_chunk_is_redelivered_and_resumes_without_duplicates(trained, monkeypatch):
    caller, data = trained
    sent = capture_messages(monkeypatch)
    c = runtime()
    job = batch.start_batch_job(c.jobs, c.interactions, c.batch_dispatcher, tenant(caller), timeouts=c.job_timeouts,
                                algorithm="hybrid", count=3, chunk_users=10)
    original = c.stored_lists.put_lists
    calls = {"n": 0}

    def flaky(tenant_id, lists):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("worker lost mid-chunk")
        return original(tenant_id, lists)

    monkeypatch.setattr(c.stored_lists, "put_lists", flaky)
    outcomes = []
    for message in sent:  # first delivery: chunk 1 fails after writing its S3 part
        try:
            outcomes.append(run(message))
        except RuntimeError:
            outcomes.append("failed")
    assert outcomes == ["done", "failed", "done"]
    progress = batch.job_view(c.jobs.get_job(caller.tenant_id, job["job_id"]))
    assert progress["status"] == "running" and progress["chunks_done"] == 2
    assert [run(m) for m in sent] == ["skipped", "done", "skipped"]  # redelivery of every message
    done = c.jobs.get_job(caller.tenant_id, job["job_id"])
    assert done["status"] == "succeeded" and batch.job_view(done)["progress"] == 1.0
    keys, rows = parts(caller, job["job_id"])
    users = [r["user_id"] for r in rows]
    assert len(keys) == 3 and len(users) == len(set(users)) == 23


def test_the_worker_reports_only_failed_messages_for_redelivery(trained, monkeypatch):
    caller, _ = trained
    sent = capture_messages(monkeypatch)
    c = runtime()
    job = batch.start_batch_job(c.jobs, c.interactions, c.batch_dispatcher, tenant(caller), timeouts=c.job_timeouts,
                                algorithm="hybrid", count=3, chunk_users=20)
    template = load_event("batch_chunk")["Records"][0]
    records = [{**template, "messageId": f"m-{n}", "body": json.dumps(m)} for n, m in enumerate(sent)]
    records.append({**template, "messageId": "m-bad", "body": json.dumps({**sent[0], "job_id": "batch-missing"})})
    handler = load_handler(Route("BatchWorkerFunction", "functions/batch_worker/", "app.lambda_handler", "", "", False))
    out = handler({"Records": records}, LambdaContext("worker"))
    assert out == {"batchItemFailures": [{"itemIdentifier": "m-bad"}]}
    assert c.jobs.get_job(caller.tenant_id, job["job_id"])["status"] == "succeeded"


def test_chunks_are_sent_to_the_queue_ten_per_call(aws):
    class FakeSqs:
        def __init__(self):
            self.calls = []

        def send_message_batch(self, QueueUrl, Entries):
            self.calls.append(Entries)
            return {"Successful": [{"Id": e["Id"]} for e in Entries]}

    sqs = FakeSqs()
    QueueSender("https://sqs.us-east-1.amazonaws.com/1/q", sqs)([{"chunk": n} for n in range(23)])
    assert [len(c) for c in sqs.calls] == [10, 10, 3]
    assert json.loads(sqs.calls[2][2]["MessageBody"]) == {"chunk": 22}


def test_the_sqs_dispatcher_needs_the_queue_url(aws, configure):
    configure(BATCH_DISPATCH="sqs", BATCH_QUEUE_URL=None)
    with pytest.raises(RuntimeError, match="BATCH_QUEUE_URL"):
        runtime().batch_dispatcher


def test_a_batch_job_is_not_a_training_job_and_unknown_jobs_are_404(trained, api, monkeypatch):
    caller, _ = trained
    capture_messages(monkeypatch)
    _, _, job = api("POST", "/v1/recommendations/generate", caller=caller, body={})
    assert api("GET", "/v1/recommendations/jobs/{job_id}", caller=caller,
               path_params={"job_id": "batch-nope"})[0] == 404
    status, _, problem = api("POST", "/v1/recommendations/generate", caller=caller, body={"count": 500})
    assert status == 422 and problem["errors"][0]["field"] == "count"
    assert job["status"] == "queued"
