"""Regenerates events/*.json: one API Gateway REST proxy event per route in NAMES (usable by
`sam local invoke -e` and loaded by the tests), plus the scheduled training event. Keyed routes
carry what the key authorizer hands on in `requestContext.authorizer`: an admin key's role."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "engine")]

from local.gateway import proxy_event  # noqa: E402
from local.template import routes, stage_name  # noqa: E402
from recengine.tenancy.roles import Role  # noqa: E402

BODIES = {
    ("POST", "/v1/items"): {"items": [
        {"id": "sku-1001", "title": "Trail running shoes", "category": "outdoor", "tags": ["running", "trail"],
         "price": 119.0, "active": True},
        {"id": "sku-1002", "metadata": {"title": "Camping stove", "category": "outdoor", "price": 49.5}}]},
    ("POST", "/v1/interactions"): {"interactions": [
        {"user_id": "u-42", "session_id": "s-9f1c", "item_id": "sku-1001", "type": "view",
         "timestamp": "2026-11-20T10:15:00Z", "event_id": "evt-0001"},
        {"user_id": "u-42", "session_id": "s-9f1c", "item_id": "sku-1001", "type": "purchase", "value": 9.5,
         "event_id": "evt-0002", "request_id": "rec-7c2d", "context": {"device_type": "mobile"}}]},
    ("POST", "/v1/recommend"): {"user_id": "u-42", "session_id": "s-9f1c", "limit": 5},
    ("POST", "/v1/similar"): {"item_id": "sku-1001", "limit": 5},
    ("POST", "/api/v1/recommend"): {"userId": "u-42", "count": 5, "algorithm": "hybrid"},
    ("POST", "/api/v1/interactions"): {"userId": "u-42", "itemId": "sku-1001", "interactionType": "purchase",
                                       "value": 1.0},
    ("POST", "/api/v1/respond"): {"interactionId": "3f9a6c1e-0b7d-4e21-9c5a-7d2e8f1b4a60", "offerId": "sku-1001",
                                  "outcome": "purchase"},
    ("POST", "/graphql"): {
        "query": "query Home($userId: String!, $itemId: String!, $count: Int!) {\n"
                 "  getRecommendations(userId: $userId, count: $count) { itemId score algorithm explanation }\n"
                 "  getSimilarItems(itemId: $itemId, count: $count) { itemId score }\n}",
        "variables": {"userId": "u-42", "itemId": "sku-1001", "count": 5}, "operationName": "Home"},
    ("PUT", "/v1/billing/overage-cap"): {"cap_amount": 250.0},
    ("POST", "/v1/billing/checkout"): {"plan_id": "growth", "interval": "monthly"},
    ("PUT", "/api/billing/overage-cap"): {"capAmount": 250.0},
    ("POST", "/api/billing/checkout"): {"planId": "plan-growth", "interval": "monthly"},
    ("POST", "/v1/recommendations/generate"): {"algorithm": "hybrid", "count": 10},
    # portal accounts and end users (seed 002)
    ("POST", "/api/auth/register"): {"email": "newuser@example.com", "name": "Jane Doe", "password": "secure_password"},
    ("POST", "/api/auth/login"): {"email": "user@example.com", "password": "secure_password"},
    ("POST", "/auth/v1/token"): {"email": "admin@tenant.com", "password": "password"},
    ("POST", "/api/users"): {"email": "user@example.com", "name": "John Doe", "role": "user", "isActive": True},
    ("PUT", "/api/users/{user_id}"): {"email": "user@example.com", "name": "John Doe", "role": "user",
                                      "isActive": False},
    ("POST", "/api/recommendations/generate"): {"algorithm": "hybrid", "userSegment": "all", "count": 10},
    ("POST", "/v1/decisioning/rules"): {"name": "Loan for likely borrowers", "target": {"offer_ids": ["offer-loan"]}, "effect": "include", "priority": 10, "conditions": [{"field": "propensity", "op": "gte", "value": 0.5}]},
    ("PUT", "/v1/decisioning/rules/{rule_id}"): {"name": "Loan for likely borrowers", "target": {"offer_ids": ["offer-loan"]}, "effect": "include", "priority": 10, "conditions": [{"field": "propensity", "op": "gte", "value": 0.5}]},
    ("POST", "/v1/decisioning/policies"): {"name": "Cooldown after purchase", "kind": "cooldown", "outcome_type": "purchase", "hours": 72},
    ("PUT", "/v1/decisioning/policies/{policy_id}"): {"name": "Cooldown after purchase", "kind": "cooldown", "outcome_type": "purchase", "hours": 72},
    ("POST", "/v1/decisioning/flows"): {"key": "email-nba", **{"name": "Email next best action", "ranker": "propensity_value", "rule_ids": ["rule_3f9a1c2b4d5e6f70"], "policy_ids": [], "max_per_category": 2, "limit": 5}},
    ("PUT", "/v1/decisioning/flows/{flow_key}"): {"name": "Email next best action", "ranker": "propensity_value", "rule_ids": ["rule_3f9a1c2b4d5e6f70"], "policy_ids": [], "max_per_category": 2, "limit": 5},
    ("PUT", "/v1/decisioning/routing"): {"routes": [{"channel": "email", "flow_key": "email-nba"}]},
    ("POST", "/v1/experiments"): {"name": "NBA vs model", "variants": {"control": {"weight": 50}, "nba": {"weight": 50, "flow_key": "email-nba"}}},
    ("PUT", "/v1/experiments/{experiment_id}"): {"name": "NBA vs model", "variants": {"control": {"weight": 50}, "nba": {"weight": 50, "flow_key": "email-nba"}}},
}
NAMES = {("GET", "/health"): "health", ("POST", "/v1/items"): "items_upsert", ("GET", "/v1/items"): "items_list",
         ("GET", "/v1/items/{item_id}"): "items_get", ("DELETE", "/v1/items/{item_id}"): "items_delete",
         ("POST", "/v1/interactions"): "interactions_post", ("POST", "/v1/recommend"): "recommend",
         ("POST", "/v1/similar"): "similar", ("GET", "/v1/billing/plans"): "billing_plans",
         ("POST", "/graphql"): "graphql",
         ("GET", "/v1/billing/current"): "billing_current", ("GET", "/v1/billing/usage"): "billing_usage",
         ("PUT", "/v1/billing/overage-cap"): "billing_overage_cap", ("GET", "/v1/billing/invoices"): "billing_invoices",
         ("POST", "/v1/billing/checkout"): "billing_checkout", ("GET", "/v1/models"): "models_list",
         ("POST", "/v1/billing/portal"): "billing_portal", ("GET", "/api/billing/plans"): "seed_billing_plans",
         ("GET", "/api/billing/current"): "seed_billing_current", ("GET", "/api/billing/usage"): "seed_billing_usage",
         ("PUT", "/api/billing/overage-cap"): "seed_billing_overage_cap",
         ("GET", "/api/billing/invoices"): "seed_billing_invoices",
         ("POST", "/api/billing/checkout"): "seed_billing_checkout", ("POST", "/api/billing/portal"): "seed_billing_portal",
         ("GET", "/v1/models/{model_id}"): "models_get", ("POST", "/v1/models/{model_id}/promote"): "models_promote",
         ("POST", "/v1/models/{model_id}/rollback"): "models_rollback", ("POST", "/v1/models/train"): "models_train",
         ("GET", "/v1/models/jobs/{job_id}"): "models_job",
         ("POST", "/v1/recommendations/generate"): "batch_generate",
         ("GET", "/v1/recommendations/jobs/{job_id}"): "batch_job",
         ("DELETE", "/v1/users/{user_id}"): "users_erase", ("GET", "/v1/users/erasures/{job_id}"): "users_erasure",
         ("POST", "/v1/decisioning/rules"): "decisioning_rule_create",
         ("GET", "/v1/decisioning/rules"): "decisioning_rules_list",
         ("GET", "/v1/decisioning/rules/{rule_id}"): "decisioning_rule_get",
         ("PUT", "/v1/decisioning/rules/{rule_id}"): "decisioning_rule_replace",
         ("DELETE", "/v1/decisioning/rules/{rule_id}"): "decisioning_rule_delete",
         ("POST", "/v1/decisioning/policies"): "decisioning_policy_create",
         ("GET", "/v1/decisioning/policies"): "decisioning_policies_list",
         ("GET", "/v1/decisioning/policies/{policy_id}"): "decisioning_policy_get",
         ("PUT", "/v1/decisioning/policies/{policy_id}"): "decisioning_policy_replace",
         ("DELETE", "/v1/decisioning/policies/{policy_id}"): "decisioning_policy_delete",
         ("POST", "/v1/decisioning/flows"): "decisioning_flow_create",
         ("GET", "/v1/decisioning/flows"): "decisioning_flows_list",
         ("GET", "/v1/decisioning/flows/{flow_key}"): "decisioning_flow_get",
         ("PUT", "/v1/decisioning/flows/{flow_key}"): "decisioning_flow_replace",
         ("DELETE", "/v1/decisioning/flows/{flow_key}"): "decisioning_flow_delete",
         ("POST", "/v1/experiments"): "experiment_create",
         ("GET", "/v1/experiments"): "experiments_list",
         ("GET", "/v1/experiments/{experiment_id}"): "experiment_get",
         ("PUT", "/v1/experiments/{experiment_id}"): "experiment_replace",
         ("DELETE", "/v1/experiments/{experiment_id}"): "experiment_delete",
         ("GET", "/v1/decisioning/routing"): "decisioning_routing_get",
         ("PUT", "/v1/decisioning/routing"): "decisioning_routing_put",
         # the RecommendAI dialect (seed 002) on /api
         ("GET", "/api/items"): "api_items_list", ("GET", "/api/items/{item_id}"): "api_items_get",
         ("POST", "/api/v1/recommend"): "api_recommend", ("POST", "/api/v1/interactions"): "api_interactions_post",
         ("POST", "/api/v1/respond"): "api_respond",
         # portal accounts (public) and the tenant's end users (a portal token, verified by the authorizer)
         ("POST", "/api/auth/register"): "portal_register", ("POST", "/api/auth/login"): "portal_login",
         ("POST", "/auth/v1/token"): "portal_token", ("GET", "/api/users"): "portal_users_list",
         ("POST", "/api/users"): "portal_users_create", ("GET", "/api/users/{user_id}"): "portal_users_get",
         ("PUT", "/api/users/{user_id}"): "portal_users_update", ("DELETE", "/api/users/{user_id}"): "portal_users_delete",
         ("PATCH", "/api/users/{user_id}/toggle-status"): "portal_users_toggle",
         # stored recommendations (a portal token)
         ("GET", "/api/recommendations"): "portal_recommendations_list",
         ("GET", "/api/recommendations/my"): "portal_recommendations_my",
         ("GET", "/api/recommendations/{rec_id}"): "portal_recommendations_get",
         ("DELETE", "/api/recommendations/{rec_id}"): "portal_recommendations_delete",
         ("POST", "/api/recommendations/generate"): "portal_recommendations_generate",
         # the portal's analytics (a portal token)
         ("GET", "/api/analytics/stats"): "portal_analytics_stats", ("GET", "/api/analytics/data"): "portal_analytics_data"}
# What the authorizer hands on for a verified portal token of a tenant admin (no API key).
PORTAL_AUTHORIZER = {"role": Role.ADMIN.value, "tenant_id": "acme-shop", "sub": "3f6d2c1e-8a4b-4c5d-9e7f-0a1b2c3d4e5f",
                     "email": "admin@tenant.com", "principal": "portal", "principalId": "3f6d2c1e-8a4b-4c5d-9e7f-0a1b2c3d4e5f",
                     "integrationLatency": 18}
PORTAL_TOKEN = "eyJraWQiOiJleGFtcGxlIiwiYWxnIjoiUlMyNTYifQ.eyJzdWIiOiJleGFtcGxlIn0.c2lnbmF0dXJl"  # a placeholder
# What the key authorizer hands on for an admin key (as API Gateway puts it in the proxy event).
AUTHORIZER = {"role": Role.ADMIN.value, "principalId": "api-key", "integrationLatency": 12}
PATH_PARAMS = {"item_id": "sku-1001", "model_id": "model_hybrid-v2_Q3vX9aLk2mP7sT0bN4cR",
               "job_id": "train-4k2m9x7q1z8c3v5b", "user_id": "u-42", "rule_id": "rule_3f9a1c2b4d5e6f70",
               "policy_id": "pol_8e7d6c5b4a392817", "flow_key": "email-nba", "experiment_id": "exp_1a2b3c4d5e6f7081",
               "rec_id": "rec_dS00Mh9oeWJyaWQfc2t1LTEwMDE"}  # u-42's sku-1001 by hybrid


def main() -> None:
    out = ROOT / "events"
    out.mkdir(exist_ok=True)
    for route in routes():
        if (route.method, route.path) not in NAMES:
            continue  # the other variants (GET recommend, /api/v1/similar) share their routes' events
        body = BODIES.get((route.method, route.path))
        params = {k: v for k, v in PATH_PARAMS.items() if "{" + k + "}" in route.path}
        path = route.path
        for k, v in params.items():
            path = path.replace("{" + k + "}", v)
        query = {"items_list": [("limit", "2"), ("search", "shoes")], "portal_token": [("grant_type", "password")],
                 "portal_users_list": [("page", "1"), ("pageSize", "20"), ("search", "doe")],
                 "portal_analytics_data": [("period", "30d")]
                 }.get(NAMES[(route.method, route.path)], [])
        headers = {"Accept": "application/json", "Host": "abc123.execute-api.us-east-1.amazonaws.com",
                   "User-Agent": "curl/8.5.0", "X-Forwarded-For": "203.0.113.10", "X-Forwarded-Proto": "https"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        key, key_id = (None, None) if not route.api_key_required else ("example-key-value", "examplekeyid")
        if key:
            headers["x-api-key"] = key
        authorizer = AUTHORIZER if route.api_key_required else None
        if not route.api_key_required and route.authorizer is not None:  # a portal route: a token, no key
            headers["Authorization"] = f"Bearer {PORTAL_TOKEN}"
            authorizer = PORTAL_AUTHORIZER
        event = proxy_event(route, route.method, path, headers, query, json.dumps(body).encode() if body else b"",
                            params, key, key_id, "203.0.113.10", stage_name(), authorizer)
        event["requestContext"]["requestId"] = f"example-{NAMES[(route.method, route.path)]}"
        event["requestContext"]["requestTimeEpoch"] = 1795600000000
        event["requestContext"]["extendedRequestId"] = event["requestContext"]["requestId"]
        (out / f"{NAMES[(route.method, route.path)]}.json").write_text(json.dumps(event, indent=2) + "\n")
    schedule = {"version": "0", "id": "d77bcbc4-0b2b-4d45-9694-b1df99175cfb", "detail-type": "Scheduled Event",
                "source": "aws.scheduler", "account": "123456789012", "time": "2026-11-22T12:00:00Z",
                "region": "us-east-1", "resources": ["arn:aws:scheduler:us-east-1:123456789012:schedule/default/train"],
                "detail": "{}"}
    (out / "train_schedule.json").write_text(json.dumps(schedule, indent=2) + "\n")
    # One training job as the train function receives it from its SQS queue (queued by POST
    # /v1/models/train or the schedule's dispatcher), and one batch-generation chunk for the worker.
    job = {"tenant_id": "acme-shop", "job_id": PATH_PARAMS["job_id"]}
    (out / "train_job.json").write_text(json.dumps(sqs_event(job, "TrainQueue", "5a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"),
                                                   indent=2) + "\n")
    chunk = {"tenant_id": "acme-shop", "job_id": "batch-7h3k9q2m5x8c1v4b", "chunk": 0, "user_ids": ["u-42", "u-43"]}
    (out / "batch_chunk.json").write_text(json.dumps(sqs_event(chunk, "BatchQueue", "0f3c6a8e-5b1d-4c2a-9e7f-1a2b3c4d5e6f"),
                                                     indent=2) + "\n")
    # The end of a Spark training run as EventBridge hands it to the completion function (the
    # EMR Serverless "Job Run State Change" event, its documented fields).
    run, app = "00f1cbsc6anuij25", "00f1cb3mqpd1v925"
    ended = {"version": "0", "id": "2f3c5b8e-6d1a-4e9f-8b7c-0a1b2c3d4e5f",
             "detail-type": "EMR Serverless Job Run State Change",
             "source": "aws.emr-serverless", "account": "123456789012", "time": "2026-11-22T14:03:11Z",
             "region": "us-east-1", "resources": [],
             "detail": {"jobRunId": run, "applicationId": app,
                        "arn": f"arn:aws:emr-serverless:us-east-1:123456789012:/applications/{app}/jobruns/{run}",
                        "releaseLabel": "emr-spark-8.0.0", "state": "SUCCESS", "previousState": "RUNNING",
                        "createdBy": "arn:aws:sts::123456789012:assumed-role/TrainDispatchFunctionRole/dispatch",
                        "updatedAt": "2026-11-22T14:03:10.000Z", "createdAt": "2026-11-22T12:00:04.000Z"}}
    (out / "train_complete.json").write_text(json.dumps(ended, indent=2) + "\n")
    erasure = {"tenant_id": "acme-shop", "job_id": "erase-2q8w4e6r1t3y5u7i"}
    message = sqs_event(erasure, "ErasureQueue", "7d2e9f4a-1b3c-4d5e-8f6a-2b4c6d8e0f1a")
    (out / "erasure_job.json").write_text(json.dumps(message, indent=2) + "\n")


def sqs_event(body: dict, queue: str, message_id: str) -> dict:
    return {"Records": [{"messageId": message_id, "receiptHandle": "AQEBexample", "body": json.dumps(body),
                         "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795600000000"},
                         "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                         "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:recengine-{queue}",
                         "awsRegion": "us-east-1"}]}


if __name__ == "__main__":
    main()
