"""The models API and on-demand training: given a tenant, when an operator lists, inspects or
trains models, then the registry answers and the job runs asynchronously."""

from __future__ import annotations

import json
import time

import boto3
import pytest

from local.gateway import LambdaContext, load_handler
from local.template import Route, queue_consumers
from local.worker import QueuePoller
from recengine.models.jobs import queue_training, start_training_job
from recengine.runtime import runtime
from tests.conftest import load_event
from tests.integration.conftest import seed_tenant, train

TRAIN = Route("TrainFunction", "functions/train/", "app.lambda_handler", "", "", False)


def sqs_record(body: dict, message_id: str = "m-1") -> dict:
    return {**load_event("train_job")["Records"][0], "messageId": message_id, "body": json.dumps(body)}


@pytest.fixture
def inline_training(configure):
    configure(TRAIN_LAUNCH="inline")


def test_models_are_listed_newest_first_with_their_metrics(aws, api):
    caller = aws.tenant()
    seed_tenant(api, caller)
    first, second = train(caller), train(caller)
    status, headers, body = api("GET", "/v1/models", caller=caller)
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert [m["model_id"] for m in body["models"]] == [second["model_id"], first["model_id"]]
    live = next(m for m in body["models"] if m["live"])
    assert live["model_id"] == body["live_model_id"] and live["status"] == "live"
    assert {"recall@20", "ndcg@10", "coverage@20", "train_s"} <= set(live["metrics"])
    status, _, one = api("GET", "/v1/models/{model_id}", caller=caller, path_params={"model_id": first["model_id"]})
    assert status == 200 and one["model_id"] == first["model_id"] and one["version"] == 1
    assert "tenant_id" not in one and "meta" not in one


def test_an_unknown_model_is_a_404(aws, api):
    caller = aws.tenant()
    for model_id in ("model_hybrid-v1_missing", "LIVE", "job%23x"):
        status, headers, body = api("GET", "/v1/models/{model_id}", caller=caller, path_params={"model_id": model_id})
        assert status == 404 and body["type"] == "/problems/model-not-found", model_id
    assert api("GET", "/v1/models", caller=caller)[2] == {"live_model_id": None, "models": []}


def test_on_demand_training_answers_202_and_the_job_reports_the_new_model(aws, api, inline_training):
    caller = aws.tenant()
    seed_tenant(api, caller)
    status, headers, job = api("POST", "/v1/models/train", caller=caller)
    assert status == 202 and job["job_id"].startswith("train-") and headers["Location"] == job["status_url"]
    status, _, done = api("GET", "/v1/models/jobs/{job_id}", caller=caller, path_params={"job_id": job["job_id"]})
    assert status == 200 and done["status"] == "succeeded" and done["model_status"] == "live"
    assert runtime().registry.live_model_id(caller.tenant_id) == done["result_model_id"]
    assert done["finished_at"] >= done["started_at"] >= done["created_at"]


def test_on_demand_training_without_data_is_skipped(aws, api, inline_training):
    caller = aws.tenant()
    _, _, job = api("POST", "/v1/models/train", caller=caller)
    _, _, done = api("GET", "/v1/models/jobs/{job_id}", caller=caller, path_params={"job_id": job["job_id"]})
    assert done["status"] == "skipped" and "no interactions" in done["detail"]


def test_an_unknown_job_is_a_404(aws, api):
    status, _, body = api("GET", "/v1/models/jobs/{job_id}", caller=aws.tenant(), path_params={"job_id": "train-x"})
    assert status == 404 and body["type"] == "/problems/not-found"


def test_the_job_is_handed_to_the_train_function_through_its_queue(aws, api):
    caller = aws.tenant()
    status, _, job = api("POST", "/v1/models/train", caller=caller)
    assert status == 202 and job["status"] == "queued"
    (message,) = boto3.client("sqs").receive_message(QueueUrl=aws.env["TRAIN_QUEUE_URL"])["Messages"]
    assert json.loads(message["Body"]) == {"tenant_id": caller.tenant_id, "job_id": job["job_id"]}


def test_the_queue_launcher_needs_the_train_queue_url(aws, configure):
    configure(TRAIN_LAUNCH="sqs", TRAIN_QUEUE_URL=None)
    with pytest.raises(RuntimeError, match="TRAIN_QUEUE_URL"):
        runtime().training_launcher


def test_the_train_function_runs_a_job_message_once(aws, api, lambda_context):
    caller = aws.tenant()
    seed_tenant(api, caller, users=20, items=30, events=8)
    c = runtime()
    job = queue_training(c.jobs, lambda tenant_id, job_id: None, caller.tenant_id, timeouts=c.job_timeouts,
                         trigger="api", force=True)
    event = {"Records": [sqs_record({"tenant_id": caller.tenant_id, "job_id": job["job_id"]})]}
    handler = load_handler(TRAIN)
    assert handler(event, lambda_context) == {"batchItemFailures": []}
    done = c.jobs.get_job(caller.tenant_id, job["job_id"])
    assert done["status"] == "succeeded" and done["result_model_id"]
    assert handler(event, LambdaContext("retry")) == {"batchItemFailures": []}  # a redelivery trains nothing twice
    assert len(c.registry.versions(caller.tenant_id)) == 1
    assert c.jobs.lock_holder(caller.tenant_id, "train") is None  # the ended job released its claim


def test_a_message_naming_no_job_is_reported_for_redelivery(aws, lambda_context):
    event = {"Records": [sqs_record({"tenant_id": "nobody", "job_id": "train-missing"}, "m-9")]}
    assert load_handler(TRAIN)(event, lambda_context) == {"batchItemFailures": [{"itemIdentifier": "m-9"}]}


def test_locally_the_queue_worker_runs_the_job_outside_the_request(aws, api):
    caller = aws.tenant()
    seed_tenant(api, caller, users=20, items=30, events=8)
    status, _, job = api("POST", "/v1/models/train", caller=caller)  # answers at once: the job waits in the queue
    assert status == 202 and runtime().jobs.get_job(caller.tenant_id, job["job_id"])["status"] == "queued"
    consumer = next(c for c in queue_consumers() if c.function == "TrainFunction")
    poller = QueuePoller(consumer, aws.env["TRAIN_QUEUE_URL"], stop=None)
    assert poller.poll_once(wait_s=0) == 1
    assert runtime().jobs.get_job(caller.tenant_id, job["job_id"])["status"] == "succeeded"
    assert poller.poll_once(wait_s=0) == 0  # the handled message was deleted


def test_a_job_that_cannot_be_started_is_marked_failed_and_frees_its_claim(aws):
    caller = aws.tenant()
    c = runtime()

    def broken(tenant_id, job_id):
        raise RuntimeError("no capacity")

    with pytest.raises(RuntimeError):
        start_training_job(c.jobs, broken, c.tenants.get_tenant(caller.tenant_id), timeouts=c.job_timeouts)
    (row,) = c.jobs.jobs(caller.tenant_id, "train")
    assert row["status"] == "failed" and "no capacity" not in row["error"]
    assert c.jobs.lock_holder(caller.tenant_id, "train") is None
    assert c.jobs.daily_count(caller.tenant_id, "train", time.strftime("%Y-%m-%d", time.gmtime())) == 0


@pytest.mark.parametrize("name,method,path,expected", [
    ("models_list", "GET", "/v1/models", 200), ("models_get", "GET", "/v1/models/{model_id}", 404),
    ("models_promote", "POST", "/v1/models/{model_id}/promote", 404),
    ("models_rollback", "POST", "/v1/models/{model_id}/rollback", 404),
    ("models_train", "POST", "/v1/models/train", 202), ("models_job", "GET", "/v1/models/jobs/{job_id}", 404),
    ("batch_generate", "POST", "/v1/recommendations/generate", 202),
    ("batch_job", "GET", "/v1/recommendations/jobs/{job_id}", 404)])
def test_every_new_sample_event_is_answered_by_its_handler(aws, configure, name, method, path, expected):
    from tests.conftest import invoke

    caller = aws.tenant()
    configure(TRAIN_LAUNCH="inline", BATCH_DISPATCH="inline")
    event = load_event(name)
    event["requestContext"]["identity"]["apiKeyId"] = caller.api_key_id
    status, headers, body = invoke(method, path, event)
    assert status == expected, body
    assert headers.get("X-Request-Id")


def test_the_sample_sqs_event_is_answered_by_the_batch_worker(aws):
    handler = load_handler(Route("BatchWorkerFunction", "functions/batch_worker/", "app.lambda_handler", "", "", False))
    event = load_event("batch_chunk")
    out = handler(event, LambdaContext("worker"))  # its job does not exist here: reported for redelivery
    assert out == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
