"""Catalogue items through the handler: upsert, get, list, search, deactivate, cursors."""

from __future__ import annotations


def test_items_upsert_get_list_search_and_deactivate(aws, call):
    caller = aws.tenant()
    items = [{"id": f"sku-{i:03d}", "title": f"{'Red' if i % 2 else 'Blue'} mug {i}", "price": i} for i in range(7)]
    status, _, body = call("POST", "/v1/items", caller=caller, body={"items": items})
    assert status == 200 and body["created"] == 7
    status, _, body = call("POST", "/v1/items", caller=caller, body={"items": items[:2]})
    assert body == {"created": 0, "updated": 2, "ids": ["sku-000", "sku-001"]}
    status, _, body = call("GET", "/v1/items/{item_id}", caller=caller, path_params={"item_id": "sku-003"})
    assert status == 200 and body["metadata"]["title"] == "Red mug 3" and body["active"] is True

    pages, cursor = [], None
    while True:
        query = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        status, _, body = call("GET", "/v1/items", caller=caller, query=query)
        pages.append([i["id"] for i in body["items"]])
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert sum(pages, []) == [f"sku-{i:03d}" for i in range(7)] and len(pages[0]) == 3

    status, _, body = call("GET", "/v1/items", caller=caller, query={"search": "red"})
    assert [i["id"] for i in body["items"]] == ["sku-001", "sku-003", "sku-005"]

    status, _, _ = call("DELETE", "/v1/items/{item_id}", caller=caller, path_params={"item_id": "sku-003"})
    assert status == 204
    _, _, body = call("GET", "/v1/items/{item_id}", caller=caller, path_params={"item_id": "sku-003"})
    assert body["active"] is False
    status, _, body = call("DELETE", "/v1/items/{item_id}", caller=caller, path_params={"item_id": "nope"})
    assert status == 404 and body["type"] == "/problems/not-found"


def test_a_cursor_from_another_tenant_is_refused(aws, call):
    a, b = aws.tenant("a"), aws.tenant("b")
    call("POST", "/v1/items", caller=a, body={"items": [{"id": f"x{i}"} for i in range(3)]})
    _, _, body = call("GET", "/v1/items", caller=a, query={"limit": "1"})
    status, _, problem = call("GET", "/v1/items", caller=b, query={"cursor": body["next_cursor"]})
    assert status == 400 and problem["type"] == "/problems/bad-request"
