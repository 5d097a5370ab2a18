"""The RecommendAI dialect (seed 002) on /api/*, through the real handlers: the same services as /v1,
other presenters: numbered item pages, the one-event interaction answer, `value` scaling the type's
weight on every path, a bare-array similar, `Healthy` as text, and `traceId` in problems."""

from __future__ import annotations

import pytest

from recengine.runtime import runtime


@pytest.fixture
def shop(aws, api):
    caller = aws.tenant("dialect")
    items = [{"id": f"sku-{n:02d}", "title": f"Thing {n}", "category": "red" if n % 2 else "blue"} for n in range(25)]
    assert api("POST", "/v1/items", caller=caller, body={"items": items})[0] == 200
    return caller


def test_items_page_by_number_with_total_and_seed_fields(shop, api):
    status, _, first = api("GET", "/api/items", caller=shop, query={"pageSize": "10"})
    assert status == 200 and (first["total"], first["page"], first["pageSize"]) == (25, 1, 10)
    assert [i["id"] for i in first["data"]] == [f"sku-{n:02d}" for n in range(10)]
    one = first["data"][0]
    assert set(one) == {"id", "tenantId", "metadata", "isActive", "createdAt", "updatedAt"}
    assert one["tenantId"] == shop.tenant_id and one["isActive"] is True and one["createdAt"].endswith("Z")
    third = api("GET", "/api/items", caller=shop, query={"page": "3", "pageSize": "10"})[2]
    assert [i["id"] for i in third["data"]] == [f"sku-{n:02d}" for n in range(20, 25)] and third["total"] == 25
    searched = api("GET", "/api/items", caller=shop, query={"search": "thing 1"})[2]
    assert searched["total"] == 11 and {i["id"] for i in searched["data"]} == {"sku-01", *(f"sku-{n}" for n in range(10, 20))}
    status, _, problem = api("GET", "/api/items", caller=shop, query={"page": "200", "pageSize": "100"})
    assert status == 400 and "cursors" in problem["detail"]
    assert api("GET", "/api/items", caller=shop, query={"pageSize": "101"})[0] == 422
    status, _, item = api("GET", "/api/items/{item_id}", caller=shop, path_params={"item_id": "sku-03"})
    assert status == 200 and item["metadata"]["title"] == "Thing 3" and item["tenantId"] == shop.tenant_id


def test_one_event_is_answered_with_success_interaction_id_and_timestamp(shop, api):
    status, _, body = api("POST", "/api/v1/interactions", caller=shop,
                           body={"userId": "user-abc", "itemId": "sku-01", "interactionType": "purchase", "value": 1.0,
                                 "eventId": "evt-1"})
    assert status == 201 and body["success"] is True and body["interactionId"] == "evt-1"
    assert body["timestamp"].endswith("Z")
    again = api("POST", "/api/v1/interactions", caller=shop,
                 body={"userId": "user-abc", "itemId": "sku-01", "interactionType": "purchase", "value": 1.0,
                       "eventId": "evt-1"})
    assert again[0] == 200 and again[2]["interactionId"] == "evt-1"
    batch = api("POST", "/api/v1/interactions", caller=shop,
                 body={"interactions": [{"userId": "user-abc", "itemId": "sku-02", "interactionType": "view"}]})
    assert batch[0] == 201 and batch[2]["accepted"] == 1  # a batch keeps the canonical answer


@pytest.mark.parametrize("path", ["/v1/interactions", "/api/v1/interactions"])
def test_value_scales_the_type_weight_on_every_path(shop, api, path):
    events = [("purchase", 1.0, 8.0), ("purchase", 0.5, 4.0), ("view", 1.0, 1.0), ("like", None, 4.0)]
    for n, (kind, value, _) in enumerate(events):
        body = {"user_id": f"u-{n}", "item_id": "sku-01", "type": kind, **({"value": value} if value is not None else {})}
        assert api("POST", path, caller=shop, body=body)[0] == 201
    for n, (_, _, weight) in enumerate(events):
        (row,) = runtime().interactions.recent_for_user(shop.tenant_id, f"u-{n}", 5)
        assert row["weight"] == weight




def test_health_answers_text_to_a_client_that_asks_for_it(aws, api):
    status, headers, body = api("GET", "/health", headers={"Accept": "text/plain"})
    assert status == 200 and body == "Healthy" and headers["Content-Type"].startswith("text/plain")
    status, _, body = api("GET", "/health", headers={"Accept": "application/json, text/plain;q=0.5"})
    assert status == 200 and body["status"] == "ok"
    assert api("GET", "/health")[2]["status"] == "ok"


def test_problems_carry_a_trace_id(shop, api, monkeypatch):
    status, _, problem = api("GET", "/api/items/{item_id}", caller=shop, path_params={"item_id": "nope"})
    assert status == 404 and problem["traceId"] == problem["request_id"]  # no X-Ray: the request id
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
    problem = api("GET", "/api/items/{item_id}", caller=shop, path_params={"item_id": "nope"})[2]
    assert problem["traceId"] == "1-5759e988-bd862e3fe1be46a994272793"
