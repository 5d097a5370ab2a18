"""Every AWS call a function makes is granted to it by template.yaml. moto allows every call, so a
function can pass every other test and still be refused in AWS (the meter's TransactWriteItems was:
its items are checked as PutItem, UpdateItem and DeleteItem, and only UpdateItem was granted). Given
one stack in moto, when every function does real work (each events/*.json fixture and the less
common paths: a model served, the meter refusing, taking back and deferring, batch chunks, training
with retention), then each call it made, as IAM checks it (local/iam.py), is allowed by its role.
Each function runs with the environment the template gives it and a model cache of its own, as in
Lambda; the work runs once for the module (about 25 s), and each function's calls are checked apart."""

from __future__ import annotations

import copy
import functools
import json
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
from botocore.client import BaseClient
from moto import mock_aws

from local.gateway import LambdaContext, authorize, load_handler
from local.iam import Names, UnmappedCallError, allowed, function_statements, names_from_environment, needs
from local.template import (NO_VALUE, Authorizer, Route, choose_if, load_template, queue_consumers, queue_env_names,
                            resources, routes, stage_name)
from tests.conftest import EVENTS, TEST_PSEUDONYM_KEY, Caller, authorizer_context, load_event
from tests.integration.billing.test_meter import fail_with
from tests.integration.conftest import route_event, set_requests

FUNCTIONS = sorted(resources("AWS::Serverless::Function"))
NO_AWS = {"HealthFunction": "liveness touches no backing service",
          "AuthorizerFunction": "reads the key from the headers; API Gateway checks it"}


@dataclass(frozen=True)
class Call:
    function: str
    step: str
    service: str
    operation: str
    params: dict


class Recorder:
    """Wraps botocore's BaseClient._make_api_call: notes each call made while a function runs, then
    makes it unchanged (also the ones that fail: IAM checks a call before it can fail)."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.function: str | None = None
        self.step = ""
        self._lock = threading.Lock()  # s3transfer and put_if_absent call from worker threads

    def install(self, mp: pytest.MonkeyPatch) -> None:
        original, recorder = BaseClient._make_api_call, self

        @functools.wraps(original)
        def _make_api_call(client, operation_name, api_params):
            recorder.note(client.meta.service_model.service_name, operation_name, api_params)
            return original(client, operation_name, api_params)

        mp.setattr(BaseClient, "_make_api_call", _make_api_call)

    def note(self, service: str, operation: str, params: dict) -> None:
        if self.function is None:
            return
        kept = {k: v if k == "Body" else copy.deepcopy(v) for k, v in params.items()}  # bodies may be files
        with self._lock:
            self.calls.append(Call(self.function, self.step, service, operation, kept))

    @contextmanager
    def running(self, function: str, step: str):
        self.function, self.step = function, step
        try:
            yield
        finally:
            self.function = None


@dataclass
class Stack:
    """The template's resources in moto; each function runs with its own environment, as in Lambda."""

    env: dict
    plan_ids: dict
    recorder: Recorder
    mp: pytest.MonkeyPatch
    cache: Path
    sent: set = field(default_factory=set)  # events/*.json fixtures sent
    current: tuple | None = None

    def configure(self, function: str, **extra: str) -> None:
        """The function's variables from the template (Globals are set for all): its own set, other
        functions' unset, its resources named physically; a fresh runtime, as a new environment."""
        from recengine.runtime import reset_runtime

        if self.current == (function, tuple(sorted(extra.items()))):
            return
        template = load_template()
        variables = {var: None for fn in resources("AWS::Serverless::Function").values()
                     for var in ((fn["Properties"].get("Environment") or {}).get("Variables") or {})}
        own = (resources("AWS::Serverless::Function")[function]["Properties"].get("Environment") or {})
        for var, value in (own.get("Variables") or {}).items():
            value = choose_if(value, template=template)  # a deployment with the parameters' defaults
            ref = value.get("Ref") if isinstance(value, dict) else None
            if value is NO_VALUE:
                variables[var] = None
            elif isinstance(value, dict) and ref is None:
                variables[var] = self.env[var]  # an intrinsic (the pool's issuer): as provisioned
            elif ref is None:
                variables[var] = str(value)
            elif ref in template["Parameters"]:
                variables[var] = str(template["Parameters"][ref]["Default"])
            else:
                variables[var] = self.env[var]  # a resource: its physical name (a queue's URL)
        variables.update(extra, MODEL_CACHE_DIR=str(self.cache / function))  # each its own /tmp
        for var, value in variables.items():
            if value is None:
                self.mp.delenv(var, raising=False)
            else:
                self.mp.setenv(var, value)
        reset_runtime()
        self.current = (function, tuple(sorted(extra.items())))

    def invoke(self, function: str, event: dict, step: str, **extra: str) -> dict:
        props = resources("AWS::Serverless::Function")[function]["Properties"]
        handler = load_handler(Route(function, props["CodeUri"], props["Handler"], "", "", False))
        self.configure(function, **extra)
        with self.recorder.running(function, step):
            return handler(event, LambdaContext(function, timeout_s=900))

    def api(self, step: str, caller: Caller | None, fixture: str | None = None, *, method: str = "", path: str = "",
            body=None, query: dict | None = None, path_params: dict | None = None,
            event: dict | None = None) -> tuple[int, dict | str, dict]:
        """Sends an events/ fixture re-aimed at the caller (or a route's event, or `event` again)."""
        if event is None and fixture is not None:
            event = fixture_event(fixture, caller, body=body, path_params=path_params)
            self.sent.add(fixture)
        elif event is None:
            event = route_event(method, path, caller=caller, body=body, query=query, path_params=path_params)
        function = next(r.function for r in routes() if (r.method, r.path) == (event["httpMethod"], event["resource"]))
        result = self.invoke(function, event, step)
        text = result.get("body") or ""
        try:
            parsed = json.loads(text) if text else {}
        except ValueError:
            parsed = text
        return result["statusCode"], parsed, event

    def drain(self, queue: str, step: str, **extra: str) -> int:
        """Hands every message waiting on the queue to the function its SQS event source feeds, as
        Lambda would (the receive and delete are Lambda's, not the function's: not recorded)."""
        function = next(c.function for c in queue_consumers() if c.queue == queue)
        url = self.env[next(var for var, logical_id in queue_env_names().items() if logical_id == queue)]
        sqs = boto3.client("sqs")
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        fixture = {"TrainFunction": "train_job", "BatchWorkerFunction": "batch_chunk",
                   "UserErasureFunction": "erasure_job"}[function]
        handled = 0
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1).get("Messages", []):
            record = {**load_event(fixture)["Records"][0], "messageId": messages[0]["MessageId"],
                      "receiptHandle": messages[0]["ReceiptHandle"], "body": messages[0]["Body"],
                      "eventSourceARN": arn}
            result = self.invoke(function, {"Records": [record]}, step, **extra)
            assert result == {"batchItemFailures": []}, f"{function} failed a message during {step!r}"
            sqs.delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
            self.sent.add(fixture)
            handled += 1
        return handled


def fixture_event(name: str, caller: Caller | None, *, body=None, path_params: dict | None = None) -> dict:
    """An events/ fixture as API Gateway would deliver it for this caller: its key id and role, a
    request id of its own; the path parameters and body replaced where given."""
    event = copy.deepcopy(load_event(name))
    context = event["requestContext"]
    context["requestId"] = f"iam-{uuid.uuid4()}"
    if context["identity"].get("apiKeyId") is not None and caller is not None:
        context["identity"]["apiKeyId"] = caller.api_key_id
        context["authorizer"] = authorizer_context(caller)
    if path_params:
        event["pathParameters"] = path_params
        event["path"] = event["resource"].format(**path_params)
    if body is not None:
        event["body"] = json.dumps(body)
    return event


# ------------------------------------------------------------------ the work: every function, every fixture
def tenant(stack: Stack, name: str) -> Caller:
    from local.provision import create_tenant

    created, value, key_id = create_tenant(stack.env["TENANTS_TABLE"], name, "growth", stack.plan_ids)
    return Caller(created.tenant_id, key_id, key_value=value)


def set_count(caller: Caller, counter: str, n: int) -> None:
    """The tenant's item or user count, set straight in the usage table (an operator's view of it)."""
    from recengine.billing.store import TOTALS
    from recengine.runtime import runtime

    usage = runtime().usage
    usage.db.update_item(TableName=usage.name, Key={"tenant_id": {"S": caller.tenant_id}, "period": {"S": TOTALS}},
                         UpdateExpression="SET #c = :n", ExpressionAttributeNames={"#c": counter},
                         ExpressionAttributeValues={":n": {"N": str(n)}})


def expect(answer: tuple, status: int) -> dict:
    assert answer[0] == status, answer[1]
    return answer[1]


def catalogue_and_history(stack: Stack, shop: Caller, data) -> None:
    """Items and interactions through their handlers: the plan's item and user counts, the meter."""
    expect(stack.api("items: the fixture's upsert", shop, "items_upsert"), 200)
    expect(stack.api("items: a catalogue", shop, method="POST", path="/v1/items", body={"items": data.items}), 200)
    expect(stack.api("items: the fixture's items again (rewritten)", shop, "items_upsert"), 200)
    expect(stack.api("items: list", shop, "items_list"), 200)
    expect(stack.api("items: get", shop, "items_get"), 200)
    expect(stack.api("items: a page by number (RecommendAI)", shop, "api_items_list"), 200)
    expect(stack.api("items: get (RecommendAI)", shop, "api_items_get"), 200)
    status, _, posted = stack.api("interactions: the fixture", shop, "interactions_post")
    assert status == 201
    expect(stack.api("interactions: the same request delivered again", shop, event=posted), 200)
    expect(stack.api("interactions: one event (RecommendAI)", shop, "api_interactions_post"), 201)
    expect(stack.api("interactions: a history", shop, method="POST", path="/v1/interactions",
                     body={"interactions": data.interactions}), 201)


def models(stack: Stack, shop: Caller) -> None:
    """Two versions trained on demand through the queue, then an operator's promote and rollback."""
    for n in (1, 2):
        job = expect(stack.api(f"models: train on demand ({n})", shop, "models_train"), 202)
        assert stack.drain("TrainQueue", f"train: an on-demand job ({n})") == 1
        done = expect(stack.api("models: the job", shop, "models_job", path_params={"job_id": job["job_id"]}), 200)
        assert done["status"] == "succeeded", done
    listed = expect(stack.api("models: list", shop, "models_list"), 200)
    other = next(m["model_id"] for m in listed["models"] if m["model_id"] != listed["live_model_id"])
    expect(stack.api("models: get", shop, "models_get", path_params={"model_id": other}), 200)
    expect(stack.api("models: promote", shop, "models_promote", path_params={"model_id": other}), 200)
    expect(stack.api("models: rollback", shop, "models_rollback", path_params={"model_id": other}), 200)


def serving(stack: Stack, shop: Caller, user: str) -> None:
    """Recommend and similar from the live model, metered, with the exposure log and its read-back."""
    served = expect(stack.api("recommend: the fixture", shop, "recommend"), 200)
    assert served["meta"]["source"] == "model"
    outcome = {"interactionId": served["meta"]["request_id"], "offerId": served["items"][0]["id"], "outcome": "purchase"}
    expect(stack.api("respond: an outcome of the decision", shop, "api_respond", body=outcome), 201)
    expect(stack.api("respond: the same outcome again", shop, "api_respond", body=outcome), 200)
    expect(stack.api("respond: an unknown decision", shop, "api_respond"), 404)
    assert expect(stack.api("recommend: RecommendAI's array", shop, "api_recommend"), 200)
    capping = {"user_id": user, "limit": 5, "frequency_cap": {"max_impressions": 1, "window_hours": 24}}
    status, _, sent = stack.api("recommend: a frequency cap", shop, method="POST", path="/v1/recommend", body=capping)
    assert status == 200
    expect(stack.api("recommend: the same request delivered again", shop, event=sent), 200)
    expect(stack.api("recommend: GET", shop, method="GET", path="/v1/recommend", query={"user_id": user}), 200)
    expect(stack.api("recommend: validate", shop, method="POST", path="/v1/recommend/validate",
                     body={"user_id": user}), 200)
    assert expect(stack.api("similar: the fixture", shop, "similar"), 200)["items"]
    status, _, sent = stack.api("similar: a cold item", shop, method="POST", path="/v1/similar",
                                body={"item_id": "sku-1002"})
    assert status == 200
    expect(stack.api("similar: the same request delivered again", shop, event=sent), 200)
    got = expect(stack.api("graphql: the fixture (recommend and similar)", shop, "graphql"), 200)
    assert got["data"]["getRecommendations"] and got["data"]["getSimilarItems"], got
    mutation = 'mutation { recordInteraction(userId: "u-42", itemId: "sku-1001", interactionType: "view") { success } }'
    recorded = expect(stack.api("graphql: recordInteraction", shop, method="POST", path="/graphql",
                                body={"query": mutation}), 200)
    assert recorded["data"]["recordInteraction"]["success"] is True, recorded


def meter_paths(stack: Stack, shop: Caller, capped: Caller, user: str) -> None:
    """The meter's rarer writes: a failed call taken back (a Delete in the transaction), a throttled
    meter deferring the count, and every shard full (the BatchGetItem of all shards, then 402)."""
    from recengine.billing import periods
    from recengine.runtime import runtime

    expect(stack.api("recommend: a failed call, taken back", shop, method="POST", path="/v1/recommend",
                     body={"user_id": user, "model_id": "model_hybrid-v99_missing"}), 404)
    expect(stack.api("similar: an unknown item, taken back", shop, method="POST", path="/v1/similar",
                     body={"item_id": "no-such-item"}), 404)
    failing = fail_with(runtime().usage.db, "ThrottlingException")
    try:
        expect(stack.api("recommend: a throttled meter defers the count", shop, method="POST", path="/v1/recommend",
                         body={"user_id": user}), 200)
    finally:
        failing["stop"]()
    assert failing["failed"] >= 1
    usage, plan = runtime().usage, periods.plan_of(runtime().tenants.get_tenant(shop.tenant_id))
    users = usage.totals(shop.tenant_id)["users"]
    set_count(shop, "users", plan.user_limit)  # a new user now takes the tenant past its plan's limit
    expect(stack.api("interactions: a new user past the plan's limit, taken back", shop, method="POST",
                     path="/v1/interactions", body={"user_id": "one-too-many", "item_id": "sku-1001", "type": "view"}),
           402)
    set_count(shop, "users", users)
    set_requests(capped.tenant_id, periods.period_of(periods.clock()),
                 periods.allowance(plan, plan.default_overage_cap))  # every shard full: past the cap
    for path, body in (("/v1/recommend", {"user_id": "u1"}), ("/v1/similar", {"item_id": "sku-1001"}),
                       ("/v1/interactions", {"user_id": "u1", "item_id": "sku-1001", "type": "view"})):
        expect(stack.api(f"{path}: refused past the cap", capped, method="POST", path=path, body=body), 402)


def billing(stack: Stack, shop: Caller) -> None:
    expect(stack.api("billing: plans", None, "billing_plans"), 200)
    for fixture in ("billing_current", "billing_usage", "billing_overage_cap", "billing_invoices"):
        expect(stack.api(f"billing: {fixture}", shop, fixture), 200)
    expect(stack.api("billing: checkout without a provider", shop, "billing_checkout"), 501)
    expect(stack.api("billing: portal without a provider", shop, "billing_portal"), 501)
    # the same services in RecommendAI's shapes (/api/billing/*)
    expect(stack.api("billing: plans (RecommendAI)", None, "seed_billing_plans"), 200)
    for fixture in ("seed_billing_current", "seed_billing_usage", "seed_billing_overage_cap", "seed_billing_invoices"):
        expect(stack.api(f"billing: {fixture} (a portal token)", None, event=portal_event(fixture, shop.tenant_id)), 200)
        stack.sent.add(fixture)
    for fixture in ("seed_billing_checkout", "seed_billing_portal"):
        expect(stack.api(f"billing: {fixture} without a provider", None, event=portal_event(fixture, shop.tenant_id)),
               501)
        stack.sent.add(fixture)
    # the same routes with the key's value, which the function validates itself (no key check there)
    expect(stack.api("billing: usage (RecommendAI) with a key value", shop, method="GET", path="/api/billing/usage"),
           200)


def batch(stack: Stack, shop: Caller, user: str) -> None:
    """Batch generation for every user, for a segment with a new user, and nightly; the lists served."""
    from tools.admin.aws import ApiKeys
    from tools.admin.tenants import TenantAdmin

    job = expect(stack.api("batch: generate", shop, "batch_generate"), 202)
    assert stack.drain("BatchQueue", "batch worker: a chunk") >= 1
    done = expect(stack.api("batch: the job", shop, "batch_job", path_params={"job_id": job["job_id"]}), 200)
    assert done["status"] == "succeeded", done
    expect(stack.api("batch: a segment with a new user", shop, method="POST", path="/v1/recommendations/generate",
                     body={"user_ids": [user, "someone-new"], "count": 3}), 202)
    assert stack.drain("BatchQueue", "batch worker: a segment's chunk") == 1
    served = expect(stack.api("recommend: a precomputed list", shop, method="POST", path="/v1/recommend",
                              body={"user_id": user, "source": "batch", "limit": 3}), 200)
    assert served["meta"]["source"] == "batch"
    TenantAdmin(ApiKeys(), stack.env["TENANTS_TABLE"], stack.plan_ids).enable_nightly_batch(shop.tenant_id)
    stack.sent.add("batch_nightly")
    stack.invoke("BatchFunction", load_event("batch_nightly"), "batch: the nightly schedule")
    assert stack.drain("BatchQueue", "batch worker: a nightly chunk") >= 1


def user_erasure(stack: Stack, shop: Caller, user: str) -> None:
    """A user erased by the worker from every store, the batch outputs rewritten in a versioned bucket
    (as the template's is: the versions that held the user's lines are deleted), then the job polled."""
    boto3.client("s3").put_bucket_versioning(Bucket=stack.env["MODEL_BUCKET"],
                                           VersioningConfiguration={"Status": "Enabled"})
    expect(stack.api("batch: a segment, written to a versioned bucket", shop, method="POST",
                     path="/v1/recommendations/generate", body={"user_ids": [user], "count": 3}), 202)
    assert stack.drain("BatchQueue", "batch worker: the segment's chunk") == 1
    job = expect(stack.api("users: erase", shop, "users_erase", path_params={"user_id": user}), 202)
    assert stack.drain("ErasureQueue", "user erasure: a job") == 1
    done = expect(stack.api("users: the erasure", shop, "users_erasure", path_params={"job_id": job["job_id"]}), 200)
    assert done["status"] == "succeeded" and done["erased"]["batch_versions_deleted"] >= 1, done


def scheduled_training(stack: Stack, shop: Caller, user: str) -> None:
    """New events, the schedule queues one job, the train function runs it and retires old artefacts."""
    from recengine.runtime import runtime

    expect(stack.api("interactions: new events", shop, method="POST", path="/v1/interactions",
                     body={"interactions": [{"user_id": user, "item_id": "sku-1001", "type": "click"}]}), 201)
    stack.sent.add("train_schedule")
    summary = stack.invoke("TrainDispatchFunction", load_event("train_schedule"), "train dispatch: the schedule")
    assert [q["tenant_id"] for q in summary["queued"]] == [shop.tenant_id], summary
    assert stack.drain("TrainQueue", "train: a scheduled job, keeping one version", KEEP_MODEL_VERSIONS="1") == 1
    assert any(v.get("artefact_deleted") for v in runtime().registry.versions(shop.tenant_id))


def spark_training(stack: Stack) -> None:
    """A tenant too large for a Lambda: the schedule starts its Spark run (StartJobRun, tags, the job
    role passed); the run's artefact is placed as the job would write it; the run's end registers it."""
    from recengine.runtime import runtime
    from tests.integration.models.test_spark_training import write_artefact

    large = tenant(stack, "large")
    history = [{"user_id": f"u{u}", "item_id": f"sku-{(u + k) % 23}", "type": "view"}
               for u in range(30) for k in range(6)]
    expect(stack.api("interactions: a large tenant's history", large, method="POST", path="/v1/interactions",
                     body={"interactions": history}), 201)
    registry = runtime().registry  # its last training read more than one Lambda trains (as an operator sees it)
    registry.put_version(large.tenant_id, {"model_id": "model_hybrid-v1_large", "version": 1, "status": "live",
                                           "interactions": 9_000_000})
    registry.put_row({"tenant_id": large.tenant_id, "model_id": "LIVE", "live_model_id": "model_hybrid-v1_large"})
    summary = stack.invoke("TrainDispatchFunction", load_event("train_schedule"), "train dispatch: a Spark run")
    (started,) = summary["spark"]
    job = runtime().jobs.get_job(large.tenant_id, started["job_id"])
    write_artefact(large.tenant_id, job["target_model_id"], None)
    event = copy.deepcopy(load_event("train_complete"))
    event["detail"].update(jobRunId=started["job_run_id"], applicationId=stack.env["SPARK_APPLICATION_ID"])
    stack.sent.add("train_complete")
    done = stack.invoke("TrainCompleteFunction", event, "train complete: a Spark run's model registered",
                        KEEP_MODEL_VERSIONS="1")
    assert done == {"job_id": started["job_id"], "status": "succeeded"}, done
    assert runtime().registry.live_model_id(large.tenant_id) == job["target_model_id"]
    swept = stack.invoke("TrainCompleteFunction", load_event("train_schedule"), "train complete: the sweep")
    assert swept == {"completed": [], "running": 0}, swept


def the_rest(stack: Stack, shop: Caller) -> None:
    """A deactivated item, the liveness probe, and the key authorizer as API Gateway runs it."""
    expect(stack.api("items: deactivate", shop, "items_delete", path_params={"item_id": "sku-1002"}), 204)
    expect(stack.api("health", None, "health"), 200)
    props = resources("AWS::Serverless::Function")["AuthorizerFunction"]["Properties"]
    stack.configure("AuthorizerFunction")
    with stack.recorder.running("AuthorizerFunction", "authorizer: a key in x-api-key"):
        ok, key, _ = authorize(Authorizer("AuthorizerFunction", props["CodeUri"], props["Handler"], True), "POST",
                               "/v1/recommend", {"x-api-key": "example-key-value"}, [], stage_name())
    assert ok and key == "example-key-value"


def portal_event(name: str, tenant_id: str, *, body=None, path_params: dict | None = None) -> dict:
    """A portal fixture re-aimed at a tenant: what the authorizer hands on for its admin's token."""
    event = fixture_event(name, None, body=body, path_params=path_params)
    if "authorizer" in event["requestContext"]:
        event["requestContext"]["authorizer"] = {**event["requestContext"]["authorizer"], "tenant_id": tenant_id}
    return event


def portal(stack: Stack, shop: Caller) -> None:
    """A sign-up (a tenant and its admin), login and GoTrue's token; the shop's end users with a token."""
    credentials = {"email": "newuser@example.com", "password": "secure_password"}
    expect(stack.api("portal: register (a sign-up)", None, "portal_register"), 201)
    added = fixture_event("portal_register", None, body={"email": "clerk@example.com", "name": "Clerk",
                                                        "password": "secure_password"})
    added["headers"] = {**added["headers"], "x-api-key": shop.key_value}
    expect(stack.api("portal: register with the tenant's admin API key", None, event=added), 201)
    expect(stack.api("portal: login", None, "portal_login", body=credentials), 200)
    expect(stack.api("portal: GoTrue token", None, "portal_token", body=credentials), 200)
    user = {"path_params": {"user_id": "u-42"}}
    for step, fixture, status, extra in (
            ("create", "portal_users_create", 201, {"body": {"id": "u-42", "email": "u@example.com", "name": "U"}}),
            ("list", "portal_users_list", 200, {}), ("get", "portal_users_get", 200, user),
            ("update", "portal_users_update", 200, user), ("toggle", "portal_users_toggle", 200, user),
            ("delete", "portal_users_delete", 204, user)):
        expect(stack.api(f"portal users: {step}", None, event=portal_event(fixture, shop.tenant_id, **extra)), status)
        stack.sent.add(fixture)
    assert stack.drain("ErasureQueue", "portal users: the deleted user's erasure") == 1
    for step, fixture in (("stats", "portal_analytics_stats"), ("data", "portal_analytics_data")):
        expect(stack.api(f"portal analytics: {step}", None, event=portal_event(fixture, shop.tenant_id)), 200)
        stack.sent.add(fixture)
    for fixture in ("portal_register", "portal_login", "portal_token"):
        stack.sent.add(fixture)
def stored_recommendations(stack: Stack, shop: Caller, user: str) -> None:
    """The portal's stored recommendations: a segment generated by the batch workers, the list, the
    admin account's own (its e-mail's end user's), one read and deleted."""

    def call(step: str, fixture: str, status: int, **extra) -> dict:
        out = expect(stack.api(f"stored recommendations: {step}", None,
                               event=portal_event(fixture, shop.tenant_id, **extra)), status)
        stack.sent.add(fixture)
        return out

    call("link the admin's account to an end user", "portal_users_create", 201,
         body={"id": user, "email": "admin@tenant.com", "name": "Admin", "segments": ["vip"]})
    call("generate a segment", "portal_recommendations_generate", 202,
         body={"algorithm": "hybrid", "userSegment": "vip", "count": 3})
    assert stack.drain("BatchQueue", "batch worker: a portal segment's chunk") == 1
    assert call("list", "portal_recommendations_list", 200)["total"] >= 3
    mine = call("the account's own", "portal_recommendations_my", 200)
    assert mine["total"] == 3 and {r["userId"] for r in mine["data"]} == {user}
    one = {"path_params": {"rec_id": mine["data"][0]["id"]}}
    call("get one", "portal_recommendations_get", 200, **one)
    call("delete one", "portal_recommendations_delete", 204, **one)


def decisioning(stack: Stack, shop: Caller) -> None:
    """Every decisioning route: rules, policies, a flow naming them, routing, an experiment; then deletes."""
    rule = expect(stack.api("decisioning: create a rule", shop, "decisioning_rule_create"), 201)["rule_id"]
    policy = expect(stack.api("decisioning: create a policy", shop, "decisioning_policy_create"), 201)["policy_id"]
    flow = {"key": "email-nba", "name": "Email next best action", "ranker": "propensity_value", "rule_ids": [rule],
            "policy_ids": [policy]}
    expect(stack.api("decisioning: create a flow", shop, "decisioning_flow_create", body=flow), 201)
    expect(stack.api("decisioning: put the routing", shop, "decisioning_routing_put"), 200)
    experiment = expect(stack.api("experiments: create", shop, "experiment_create"), 201)["experiment_id"]
    objects = (("decisioning_rule", "decisioning_rules", "rule_id", rule, None),
               ("decisioning_policy", "decisioning_policies", "policy_id", policy, None),
               ("decisioning_flow", "decisioning_flows", "flow_key", "email-nba", {k: v for k, v in flow.items()
                                                                                   if k != "key"}),
               ("experiment", "experiments", "experiment_id", experiment, None))
    for one, many, param, value, body in objects:
        expect(stack.api(f"{one}: list", shop, f"{many}_list"), 200)
        expect(stack.api(f"{one}: get", shop, f"{one}_get", path_params={param: value}), 200)
        expect(stack.api(f"{one}: replace", shop, f"{one}_replace", path_params={param: value}, body=body), 200)
    expect(stack.api("decisioning: get the routing", shop, "decisioning_routing_get"), 200)
    for one, _many, param, value, _body in reversed(objects):
        expect(stack.api(f"{one}: delete", shop, f"{one}_delete", path_params={param: value}), 204)


def drive(stack: Stack) -> None:
    from local.demo import generate

    shop, capped = tenant(stack, "shop"), tenant(stack, "capped")
    data = generate(n_users=40, n_items=60, events_per_user=8, seed=5)
    user = data.interactions[0]["user_id"]
    catalogue_and_history(stack, shop, data)
    models(stack, shop)
    serving(stack, shop, user)
    meter_paths(stack, shop, capped, user)
    billing(stack, shop)
    batch(stack, shop, user)
    stored_recommendations(stack, shop, user)
    user_erasure(stack, shop, data.interactions[-1]["user_id"])
    scheduled_training(stack, shop, user)
    spark_training(stack)
    portal(stack, shop)
    decisioning(stack, shop)
    the_rest(stack, shop)

@contextmanager
def moto_stack(mp: pytest.MonkeyPatch, cache: Path):
    """As tests/conftest.py's aws_credentials and aws fixtures, once for the module (they are per test)."""
    from recengine.aws.clients import reset_clients
    from recengine.runtime import reset_runtime

    from local.moto_atomic import atomic_item_writes, item_scoped_rollback, partition_scoped_queries
    from local.provision import create_api, create_resources, create_spark_application

    for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "TRAIN_LAUNCH", "BATCH_DISPATCH"):
        mp.delenv(var, raising=False)  # training and batch chunks leave through their queues, as in AWS
    for var, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
                       "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_LOG_LEVEL": "WARNING",
                       "POWERTOOLS_SERVICE_NAME": "recengine-test", "POWERTOOLS_METRICS_NAMESPACE": "recengine-test",
                       "POWERTOOLS_METRICS_DISABLED": "true"}.items():
        mp.setenv(var, value)
    # as the other suites and `make run`: moto's writes atomic under the request's concurrent calls
    with mock_aws(), item_scoped_rollback(), atomic_item_writes(), partition_scoped_queries():
        reset_clients()
        reset_runtime()
        env = create_resources("test", {"PseudonymSecret": TEST_PSEUDONYM_KEY})
        env.update(create_spark_application("test"))  # the template's Spark trainer (functions' own variables)
        for key, value in env.items():
            mp.setenv(key, value)
        _, plan_ids = create_api("test")
        recorder = Recorder()
        recorder.install(mp)
        try:
            yield Stack(env, plan_ids, recorder, mp, cache)
        finally:
            reset_clients()
            reset_runtime()


@dataclass(frozen=True, repr=False)  # thousands of calls: not for assertion messages
class Run:
    calls: list[Call]
    names: Names
    sent: frozenset[str]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Run:
    with pytest.MonkeyPatch.context() as mp, moto_stack(mp, tmp_path_factory.mktemp("model-caches")) as stack:
        drive(stack)
        yield Run(list(stack.recorder.calls), names_from_environment(stack.env), frozenset(stack.sent))


def refused(run: Run, function: str) -> list[str]:
    """Each (action, resource) of the function's calls IAM would refuse, with the first call behind it."""
    statements = function_statements(function)
    found: dict[str, list[str]] = {}
    for call in (c for c in run.calls if c.function == function):
        origin = f"{call.service}.{call.operation} during {call.step!r}"
        try:
            required = needs(call.service, call.operation, call.params, run.names)
        except UnmappedCallError as exc:
            found.setdefault(f"{function}: no IAM mapping for {exc}: add it to local/iam.py", []).append(origin)
            continue
        except LookupError as exc:
            found.setdefault(f"{function}: {exc}", []).append(origin)
            continue
        for need in required:
            if not allowed(statements, need):
                context = "".join(f" with {k}={v!r}" for k, v in need.context)
                problem = f"{function} is not granted {need.action} on {need.resource}{context}"
                found.setdefault(problem, []).append(origin)
    return [f"{problem} ({origins[0]}{f'; {len(origins) - 1} more' if len(origins) > 1 else ''})"
            for problem, origins in sorted(found.items())]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_call_a_function_makes_is_granted_to_it(run, function):
    problems = refused(run, function)
    if problems:
        pytest.fail("calls template.yaml does not grant:\n  " + "\n  ".join(problems), pytrace=False)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_was_driven_and_its_calls_recorded(run, function):
    made = [c for c in run.calls if c.function == function]
    if function in NO_AWS:
        assert made == [], f"{function} should make no AWS call ({NO_AWS[function]})"
    else:
        assert made, f"{function} made no recorded call: it was not driven, or the recording is off"


def test_every_event_fixture_was_sent_through_its_function(run):
    assert {p.stem for p in EVENTS.glob("*.json")} == run.sent


def test_the_recording_changes_nothing_and_keeps_failed_calls(monkeypatch):
    """The recorder returns what botocore returns and raises what it raises; a refused call is kept."""
    from botocore.exceptions import ClientError
    from botocore.stub import Stubber

    recorder = Recorder()
    recorder.install(monkeypatch)
    dynamodb = boto3.client("dynamodb")
    with Stubber(dynamodb) as stub:
        stub.add_response("list_tables", {"TableNames": ["items", "users"]})
        stub.add_client_error("describe_table", "AccessDeniedException", http_status_code=400)
        stub.add_response("list_tables", {"TableNames": []})
        with recorder.running("ItemsFunction", "a check"):
            assert dynamodb.list_tables()["TableNames"] == ["items", "users"]
            with pytest.raises(ClientError, match="AccessDeniedException"):
                dynamodb.describe_table(TableName="nope")
        dynamodb.list_tables()  # no function running: not recorded
    assert [(c.function, c.operation, c.params) for c in recorder.calls] == [
        ("ItemsFunction", "ListTables", {}), ("ItemsFunction", "DescribeTable", {"TableName": "nope"})]


def test_the_pseudonym_key_is_read_only_by_the_functions_that_pseudonymise(run):
    """Recommend, interactions, GraphQL (both of theirs) and the user erasure read the key's secret (granted above); no other
    function reads a secret."""
    readers = {c.function for c in run.calls if c.service == "secretsmanager"}
    assert readers == {"RecommendFunction", "InteractionsFunction", "GraphqlFunction", "UserErasureFunction"}
    assert {c.operation for c in run.calls if c.service == "secretsmanager"} == {"GetSecretValue"}
