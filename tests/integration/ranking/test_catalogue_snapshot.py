"""Ranking reads the catalogue from the snapshot that travels with the model plus the change record
read at the start of each request: given a trained tenant, when items change after training (deleted,
re-categorised, re-activated), then every request sees the change at once, and no request reads the
items themselves; recommend makes two round trips (reads with the meter, then the exposure) and
similar one."""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager

import botocore.client
import pytest

from recengine.catalogue import store as catalogue_store
from recengine.runtime import runtime
from tests.integration.conftest import seed_tenant, train


HOLD_S = 0.03  # in-process moto answers in about 1 ms, often before a pool thread has issued its call


@contextmanager
def aws_calls():
    """Every AWS call made meanwhile, as (operation, table, start, end)."""
    calls: list[tuple[str, str, float, float]] = []
    lock = threading.Lock()
    original = botocore.client.BaseClient._make_api_call

    def recording(self, operation, params):
        start = time.perf_counter()
        try:
            time.sleep(HOLD_S)  # a network round trip: calls issued together overlap, as in a region
            return original(self, operation, params)
        finally:
            table = params.get("TableName") or ",".join(params.get("RequestItems", {}) or ()) or ""
            with lock:
                calls.append((operation, table, start, time.perf_counter()))

    botocore.client.BaseClient._make_api_call = recording
    try:
        yield calls
    finally:
        botocore.client.BaseClient._make_api_call = original


def round_trips(calls) -> int:
    """Calls in flight together are one round trip."""
    groups, end = 0, None
    for _, _, start, stop in sorted(calls, key=lambda c: c[2]):
        if end is None or start >= end:
            groups += 1
            end = stop
        else:
            end = max(end, stop)
    return groups


@pytest.fixture
def tenant(aws, api):
    caller = aws.tenant("snap")
    data = seed_tenant(api, caller, users=30, items=50, events=10, seed=11)
    train(caller)
    return caller, data


def rec(api, caller, body):
    status, _, out = api("POST", "/v1/recommend", caller=caller, body=body)
    assert status == 200, out
    return out


def ids(body) -> list[str]:
    return [i["id"] for i in body["items"]]


def test_the_model_carries_a_snapshot_of_the_catalogue(tenant):
    caller, data = tenant
    c = runtime()
    model = c.models.get(caller.tenant_id)
    snapshot = c.models.catalogue(caller.tenant_id, model.model_id)
    assert snapshot is not None and len(snapshot) == len(data.items)
    first = data.items[0]
    assert snapshot.row(first["id"])["active"] is True
    assert snapshot.row(first["id"])["metadata"]["category"] == first["category"]
    assert snapshot.row("never-sent") is None


def test_recommend_reads_no_item_and_makes_two_round_trips(tenant, api):
    caller, _ = tenant
    rec(api, caller, {"user_id": "user-0001", "limit": 5})  # the model is loaded now
    body = {"user_id": "user-0001", "session_id": "s-1", "limit": 5, "context": {"device": "mobile"},
            "frequency_cap": {"max_impressions": 2, "window_hours": 1},
            "placements": [{"placement_id": "home", "limit": 3}, {"placement_id": "cart", "limit": 3}],
            "rules": [{"field": "price", "op": "gte", "value": 0}]}
    with aws_calls() as calls:
        rec(api, caller, body)
    operations = [op for op, *_ in calls]
    # no item is read (the catalogue is the snapshot plus the change record); the one GetItem allowed is
    # the user's portal record (is the user active?) in the interactions table, beside the history
    item_reads = [op for op, table, *_ in calls if os.environ["ITEMS_TABLE"] in table.split(",")]
    assert "BatchGetItem" not in item_reads and "GetItem" not in item_reads, operations
    assert [table for op, table, *_ in calls if op == "GetItem"] == [os.environ["INTERACTIONS_TABLE"]], calls
    assert round_trips(calls) <= 2, calls


def test_similar_reads_no_item_and_makes_one_round_trip(tenant, api):
    caller, data = tenant
    item = data.items[3]["id"]
    api("POST", "/v1/similar", caller=caller, body={"item_id": item, "limit": 5})
    with aws_calls() as calls:
        status, _, body = api("POST", "/v1/similar", caller=caller, body={"item_id": item, "limit": 5})
    assert status == 200 and body["items"]
    assert "BatchGetItem" not in [op for op, *_ in calls] and round_trips(calls) == 1, calls


def test_a_deleted_item_is_never_served_again_and_a_reactivated_one_is(tenant, api):
    caller, data = tenant
    top = ids(rec(api, caller, {"user_id": "stranger", "limit": 5}))[0]
    assert api("DELETE", "/v1/items/{item_id}", caller=caller, path_params={"item_id": top})[0] == 204
    assert top not in ids(rec(api, caller, {"user_id": "stranger", "limit": 40}))
    assert top not in ids(rec(api, caller, {"user_id": "stranger", "item_ids": [top]}))
    neighbour = next(i["id"] for i in data.items if i["id"] != top)
    similar = api("POST", "/v1/similar", caller=caller, body={"item_id": neighbour, "limit": 49})[2]
    assert top not in ids(similar)
    item = next(i for i in data.items if i["id"] == top)
    assert api("POST", "/v1/items", caller=caller, body={"items": [{**item, "active": True}]})[0] == 200
    assert top in ids(rec(api, caller, {"user_id": "stranger", "item_ids": [top]}))


def test_metadata_changed_after_training_is_what_rules_and_reasons_see(tenant, api):
    caller, data = tenant
    ranked = ids(rec(api, caller, {"user_id": "stranger", "limit": 10}))
    moved = next(i for i in data.items if i["id"] == ranked[0])
    changed = {**moved, "category": "brand-new-category", "title": "Renamed after training"}
    assert api("POST", "/v1/items", caller=caller, body={"items": [changed]})[0] == 200
    rule = [{"field": "category", "op": "eq", "value": "brand-new-category"}]
    body = rec(api, caller, {"user_id": "stranger", "limit": 5, "rules": rule})
    assert ids(body) == [moved["id"]]
    body = rec(api, caller, {"user_id": "stranger", "limit": 10, "rules": [{**rule[0], "op": "ne"}]})
    assert moved["id"] not in ids(body)


def test_a_long_change_record_falls_back_to_reading_the_items(tenant, api, monkeypatch):
    caller, data = tenant
    monkeypatch.setattr(catalogue_store, "MAX_CHANGES", 1)
    top = ids(rec(api, caller, {"user_id": "stranger", "limit": 5}))[:2]
    for item_id in top:
        assert api("DELETE", "/v1/items/{item_id}", caller=caller, path_params={"item_id": item_id})[0] == 204
    with aws_calls() as calls:
        served = ids(rec(api, caller, {"user_id": "stranger", "limit": 40}))
    assert not set(top) & set(served)
    assert "BatchGetItem" in [op for op, *_ in calls]  # read from the items table, correct if slower


def test_a_deactivation_whose_change_row_cannot_be_written_is_refused(tenant, api, monkeypatch):
    """The item and its change row are one transaction: the DELETE fails whole, and retries."""
    caller, _ = tenant
    top = ids(rec(api, caller, {"user_id": "stranger", "limit": 5}))[0]
    c = runtime()
    monkeypatch.setattr(type(c.items), "transact", lambda self, items: ["None", "ThrottlingError"])
    status, _, _ = api("DELETE", "/v1/items/{item_id}", caller=caller, path_params={"item_id": top})
    assert status == 503
    monkeypatch.undo()
    assert top in ids(rec(api, caller, {"user_id": "stranger", "limit": 5}))
