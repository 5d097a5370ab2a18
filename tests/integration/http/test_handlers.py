"""Every handler against moto: the sample events, request ids, and errors as problem details."""

from __future__ import annotations

import json

import pytest

from tests.conftest import api_event, invoke, load_event


@pytest.mark.parametrize("name,method,path", [
    ("health", "GET", "/health"), ("items_upsert", "POST", "/v1/items"), ("items_list", "GET", "/v1/items"),
    ("items_get", "GET", "/v1/items/{item_id}"), ("items_delete", "DELETE", "/v1/items/{item_id}"),
    ("interactions_post", "POST", "/v1/interactions"), ("recommend", "POST", "/v1/recommend"),
    ("similar", "POST", "/v1/similar"), ("billing_plans", "GET", "/v1/billing/plans")])
def test_every_sample_event_is_answered_by_its_handler(aws, name, method, path):
    caller = aws.tenant()
    event = load_event(name)
    if event["requestContext"]["identity"]["apiKeyId"]:
        event["requestContext"]["identity"]["apiKeyId"] = caller.api_key_id
    # The sample item exists, so get/delete/similar have something to act on.
    invoke("POST", "/v1/items", api_event("POST", "/v1/items", caller=caller, body=json.loads(load_event("items_upsert")["body"])))
    status, headers, body = invoke(method, path, event)
    assert status in (200, 201, 204), body
    assert headers.get("X-Request-Id")


def test_x_request_id_is_echoed_as_rec_id(trained_shop, call):
    caller, _, _ = trained_shop
    status, headers, body = call("POST", "/v1/recommend", caller=caller, body={"user_id": "u"},
                                 headers={"X-Request-Id": "req-abc.123"})
    assert body["rec_id"] == "req-abc.123" == headers["X-Request-Id"]


@pytest.mark.parametrize("kwargs,status,slug", [
    ({"raw_body": "{not json"}, 400, "malformed-json"),
    ({"body": {"user_id": "u"}, "headers": {"Content-Type": "text/plain"}}, 415, "unsupported-media-type"),
    ({"body": {"user_id": "u", "limit": 0}}, 422, "validation-error"),  # above 100 is clipped, not refused
    ({"body": ["a", "list"]}, 422, "validation-error"),
])
def test_bad_requests_get_problem_details(aws, call, kwargs, status, slug):
    caller = aws.tenant()
    got, headers, body = call("POST", "/v1/recommend", caller=caller, **kwargs)
    assert got == status and headers["Content-Type"] == "application/problem+json"
    assert body["type"] == f"/problems/{slug}" and body["status"] == status and body["title"]


def test_schema_violations_name_the_failing_fields(aws, call):
    caller = aws.tenant()
    _, _, body = call("POST", "/v1/interactions", caller=caller,
                      body={"interactions": [{"user_id": "u", "item_id": "a", "type": "stare", "value": -1}]})
    fields = {e["field"] for e in body["errors"]}
    assert {"interactions.0.type", "interactions.0.value"} <= fields


def test_missing_or_unknown_api_key_is_401(aws, call):
    status, _, body = call("POST", "/v1/recommend", caller=None, body={"user_id": "u"})
    assert status == 401 and body["type"] == "/problems/unauthorized"
    from tests.conftest import Caller

    status, _, _ = call("POST", "/v1/recommend", caller=Caller("x", "forged-key-id"), body={"user_id": "u"})
    assert status == 401


def test_unexpected_errors_are_500_without_internals(aws, call, monkeypatch):
    from recengine.ranking import service

    caller = aws.tenant()

    def boom(*args, **kwargs):
        raise KeyError("secret-internal-detail")

    monkeypatch.setattr(service, "serve", boom)
    status, _, body = call("POST", "/v1/recommend", caller=caller, body={"user_id": "u"})
    assert status == 500 and "secret" not in json.dumps(body) and body["type"] == "/problems/internal-error"


def test_billing_plans_lists_the_three_tiers(aws, call):
    status, _, body = call("GET", "/v1/billing/plans", caller=aws.tenant())
    assert status == 200 and [p["id"] for p in body["plans"]] == ["starter", "growth", "enterprise"]
