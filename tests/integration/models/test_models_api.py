"""The models API and on-demand training: given a tenant, when an operator lists, inspects or
trains models, then the registry answers and the job runs asynchronously."""

from __future__ import annotations

import json
import time

import pytest

from local.gateway import LambdaContext, load_handler
from local.template import Route
from recengine.models.jobs import run_training_job, start_training_job, thread_launcher
from recengine.models.launch import AsyncInvoker
from recengine.runtime import runtime
from tests.conftest import load_event
from tests.integration.conftest import seed_tenant, train


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


def test_in_aws_the_job_is_handed_to_the_train_function_asynchronously(aws, api, monkeypatch, configure):
    class FakeLambda:
        calls = []

        def invoke(self, **kwargs):
            self.calls.append(kwargs)
            return {"StatusCode": 202}

    configure(TRAIN_FUNCTION_NAME="recengine-TrainFunction-abc")
    monkeypatch.setattr(AsyncInvoker, "lambda_client", FakeLambda())
    caller = aws.tenant()
    status, _, job = api("POST", "/v1/models/train", caller=caller)
    assert status == 202 and job["status"] == "queued"
    (call,) = FakeLambda.calls
    assert call["FunctionName"] == "recengine-TrainFunction-abc" and call["InvocationType"] == "Event"
    assert json.loads(call["Payload"]) == {"tenant_id": caller.tenant_id, "job_id": job["job_id"]}


def test_the_lambda_launcher_needs_the_train_function_name(aws, configure):
    configure(TRAIN_LAUNCH="lambda", TRAIN_FUNCTION_NAME=None)
    with pytest.raises(RuntimeError, match="TRAIN_FUNCTION_NAME"):
        runtime().training_launcher


def test_the_train_function_runs_a_job_payload_once(aws, api, lambda_context):
    caller = aws.tenant()
    seed_tenant(api, caller, users=20, items=30, events=8)
    c = runtime()
    job = start_training_job(c.jobs, lambda tenant_id, job_id: None, caller.tenant_id)
    handler = load_handler(Route("TrainFunction", "functions/train/", "app.lambda_handler", "", "", False))
    event = {**load_event("train_job"), "tenant_id": caller.tenant_id, "job_id": job["job_id"]}
    done = handler(event, lambda_context)
    assert done["status"] == "succeeded" and done["result_model_id"]
    again = handler(event, LambdaContext("retry"))  # an at-least-once redelivery trains nothing twice
    assert again["result_model_id"] == done["result_model_id"]
    assert len(c.registry.versions(caller.tenant_id)) == 1


def test_locally_the_job_runs_on_a_background_thread(aws, api):
    caller = aws.tenant()
    seed_tenant(api, caller, users=20, items=30, events=8)
    c = runtime()

    def run(tenant_id, job_id):
        run_training_job(c.training, c.jobs, tenant_id, job_id)

    job = start_training_job(c.jobs, thread_launcher(run), caller.tenant_id)
    deadline = time.monotonic() + 60
    while c.jobs.get_job(caller.tenant_id, job["job_id"])["status"] in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert c.jobs.get_job(caller.tenant_id, job["job_id"])["status"] == "succeeded"


def test_a_job_that_cannot_be_started_is_marked_failed(aws):
    caller = aws.tenant()
    jobs = runtime().jobs

    def broken(tenant_id, job_id):
        raise RuntimeError("no capacity")

    with pytest.raises(RuntimeError):
        start_training_job(jobs, broken, caller.tenant_id)
    (row,) = [r for r in jobs.query_rows(KeyConditionExpression="tenant_id = :t",
                                         ExpressionAttributeValues={":t": {"S": caller.tenant_id}})]
    assert row["status"] == "failed" and "no capacity" not in row["error"]


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
