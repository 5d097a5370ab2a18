"""The requests the fault matrix sends: one ordinary request per route (recommend, similar,
interactions, items), each new (fresh event ids, request ids) so that a retry is the client's."""

from __future__ import annotations

import uuid
from typing import Callable

Request = tuple[str, str, dict]  # method, path, keyword arguments of tests.conftest.api_event

FAULT_ITEM = "fault-item-0001"  # an item of its own for the items route to deactivate (the shop has it)


def recommend(shop) -> Request:
    """A known user, a session and a frequency cap (never reached here): history, session, model,
    catalogue, exposures."""
    return "POST", "/v1/recommend", {"body": {"user_id": shop.users[0], "session_id": "fault-session", "limit": 5,
                                              "frequency_cap": {"max_impressions": 1000, "window_hours": 1}}}


def similar(shop) -> Request:
    return "POST", "/v1/similar", {"body": {"item_id": shop.items[0], "limit": 5}}


def interactions(shop) -> Request:
    """Two new events: one by a known user, one by a user never seen before."""
    events = [{"user_id": shop.users[1], "item_id": shop.items[2], "type": "click",
               "event_id": f"e-{uuid.uuid4().hex}"},
              {"user_id": f"new-{uuid.uuid4().hex[:8]}", "item_id": shop.items[3], "type": "view",
               "event_id": f"e-{uuid.uuid4().hex}"}]
    return "POST", "/v1/interactions", {"body": {"interactions": events}}


def items_upsert(shop) -> Request:
    """A new item (a new one each time: an existing one is not counted against the plan again)."""
    item = {"id": f"new-item-{uuid.uuid4().hex[:8]}", "title": "Fault item", "category": "tests"}
    return "POST", "/v1/items", {"body": {"items": [item]}}


def items_list(shop) -> Request:
    return "GET", "/v1/items", {"query": {"limit": "10"}}


def items_get(shop) -> Request:
    return "GET", "/v1/items/{item_id}", {"path_params": {"item_id": shop.items[1]}}


def items_delete(shop) -> Request:
    return "DELETE", "/v1/items/{item_id}", {"path_params": {"item_id": FAULT_ITEM}}


ROUTES: dict[str, Callable] = {"recommend": recommend, "similar": similar, "interactions": interactions,
                               "items.upsert": items_upsert, "items.list": items_list, "items.get": items_get,
                               "items.delete": items_delete}
