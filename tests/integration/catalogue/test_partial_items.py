"""Items taken entry by entry: the valid items of a batch are stored, each invalid one (or a repeated
id) is reported by index; items the store could not write are named in a 503 and not counted."""

from __future__ import annotations

from recengine.aws import dynamo
from recengine.runtime import runtime
from tests.integration.dynamo_faults import DynamoFaults


def stored_ids(caller) -> list[str]:
    return sorted(r["item_id"] for r in runtime().items.iter_items(caller.tenant_id))


def test_one_bad_item_does_not_sink_its_batch(aws, call):
    caller = aws.tenant()
    items = [{"id": "a", "title": "A"}, {"id": "b", "price": 7.07e154}, {"id": "a", "title": "again"}, "not an item",
             {"id": "c", "metadata": {"tags": ["x"]}}]
    status, _, body = call("POST", "/v1/items", caller=caller, body={"items": items})
    assert status == 207, body
    assert body["created"] == 2 and body["updated"] == 0 and body["ids"] == ["a", "c"]
    assert [(r["index"], r["errors"][0]["field"], r["errors"][0]["code"]) for r in body["rejected"]] == [
        (1, "items.1.metadata.price", "invalid_json_value"), (2, "items.2", "duplicate_in_batch"),
        (3, "items.3", "model_type")]
    assert stored_ids(caller) == ["a", "c"] and runtime().usage.totals(caller.tenant_id)["items"] == 2
    status, _, body = call("GET", "/v1/items/{item_id}", caller=caller, path_params={"item_id": "a"})
    assert body["metadata"] == {"title": "A"}


def test_whole_request_problems_stay_4xx(aws, call):
    caller = aws.tenant()
    for payload in ({"items": []}, {"items": [{"id": str(i)} for i in range(501)]}, ["a"], {"items": [{"id": "a"}],
                                                                                             "extra": 1}):
        status, _, body = call("POST", "/v1/items", caller=caller, body=payload)
        assert status == 422 and body["type"] == "/problems/validation-error" and "rejected" not in body, payload
    assert stored_ids(caller) == []


def test_items_the_store_could_not_write_are_named_and_not_counted(aws, call, monkeypatch):
    monkeypatch.setattr(dynamo, "_sleep", lambda s: None)
    caller = aws.tenant()
    call("POST", "/v1/items", caller=caller, body={"items": [{"id": "old", "v": 1}]})
    faults = DynamoFaults(seed=2, throttle_put=1.0, stuck=lambda table, item: item["item_id"]["S"] == "old",
                          put_filter=lambda op, body: body.get("Item", {}).get("item_id", {}).get("S") == "new-2")
    try:
        status, headers, body = call("POST", "/v1/items", caller=caller,
                                     body={"items": [{"id": "new-1"}, {"id": "old", "v": 2}, {"id": "new-2"}]})
    finally:
        faults.close()
    assert status == 503 and headers["Retry-After"], body
    assert body["not_stored"] == [{"index": 1, "id": "old"}, {"index": 2, "id": "new-2"}]
    assert body["stored_ids"] == ["new-1"]
    assert stored_ids(caller) == ["new-1", "old"] and runtime().usage.totals(caller.tenant_id)["items"] == 2
    status, _, body = call("POST", "/v1/items", caller=caller,
                           body={"items": [{"id": "new-1"}, {"id": "old", "v": 2}, {"id": "new-2"}]})
    assert status == 200 and body == {"created": 1, "updated": 2, "ids": ["new-1", "old", "new-2"]}
    assert runtime().usage.totals(caller.tenant_id)["items"] == 3
