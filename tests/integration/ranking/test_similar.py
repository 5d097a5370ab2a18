"""Similar items through the handler, for known items, unknown ones and cold catalogue items."""

from __future__ import annotations

from tests.integration.conftest import seed_shop, train_shop


def test_similar_items_and_unknown_item(trained_shop, call):
    caller, data, _ = trained_shop
    item = data.interactions[0]["item_id"]
    status, _, body = call("POST", "/v1/similar", caller=caller, body={"item_id": item, "limit": 4})
    assert status == 200 and len(body["items"]) == 4 and item not in {i["id"] for i in body["items"]}
    status, _, body = call("POST", "/v1/similar", caller=caller, body={"item_id": "ghost"})
    assert status == 404 and body["type"] == "/problems/not-found"


def test_similar_for_a_catalogue_item_without_interactions_falls_back(trained_shop, call):
    caller, _, _ = trained_shop
    call("POST", "/v1/items", caller=caller, body={"items": [{"id": "fresh-item", "title": "New"}]})
    _, _, body = call("POST", "/v1/similar", caller=caller, body={"item_id": "fresh-item", "limit": 3})
    assert len(body["items"]) == 3 and body["warnings"][0]["code"] == "item_not_in_model"


def test_a_catalogue_item_without_interactions_can_be_recommended_and_has_similar_items(aws, call):
    caller = aws.tenant()
    data = seed_shop(call, caller)
    books = [i for i in data.items if i["category"] == "books"]
    call("POST", "/v1/items", caller=caller, body={"items": [
        {"id": "new-book", "title": "Brand new book", "category": "books", "tags": books[0]["tags"]}]})
    train_shop(caller)
    reader = next(u for u, t in data.user_tastes.items() if t == ("books",))
    _, _, body = call("POST", "/v1/recommend", caller=caller,
                      body={"user_id": reader, "item_ids": ["new-book", "item-00001"], "algorithm": "content-based"})
    assert body["items"][0]["id"] == "new-book"
    status, _, similar = call("POST", "/v1/similar", caller=caller, body={"item_id": "new-book", "limit": 5})
    assert status == 200 and similar["warnings"] == []
    category = {i["id"]: i["category"] for i in data.items}
    assert sum(category.get(i["id"]) == "books" for i in similar["items"]) >= 3
