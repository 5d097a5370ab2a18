"""`source: "batch"` is held to what a live list is: given a precomputed list for a user, when a
recommend request asks for it with exclusions, filters or rules, candidates or a frequency cap,
then the stored list is filtered by the same code as the live one (nothing is silently ignored)."""

from __future__ import annotations

import pytest

from recengine.runtime import runtime
from tests.integration.conftest import seed_tenant, train

URL = "/v1/recommend"


@pytest.fixture
def stored(aws, api, configure):
    """A trained shop, one user's precomputed list of 12 (collaborative), and the items' catalogue rows."""
    configure(BATCH_DISPATCH="inline")
    caller = aws.tenant("shop")
    data = seed_tenant(api, caller, users=23, items=40, events=8)
    train(caller)
    user = data.interactions[0]["user_id"]
    status, _, _ = api("POST", "/v1/recommendations/generate", caller=caller,
                       body={"user_ids": [user], "count": 12, "algorithm": "collaborative"})
    assert status == 202
    listed = runtime().stored_lists.get_list(caller.tenant_id, user, "collaborative")["items"]
    assert len(listed) == 12
    catalogue = {i["id"]: i for i in data.items}
    return caller, user, [i["id"] for i in listed], catalogue


def batch(api, caller, user, **extra):
    status, _, body = api("POST", URL, caller=caller, body={"user_id": user, "source": "batch",
                                                             "algorithm": "collaborative", **extra})
    assert status == 200, body
    assert body["meta"]["source"] == "batch", body  # still the precomputed list, not a live one
    return [i["id"] for i in body["items"]], {w["code"] for w in body.get("warnings", [])}


def test_the_stored_list_is_served_as_stored_without_filters(stored, api):
    caller, user, listed, _ = stored
    assert batch(api, caller, user, limit=5)[0] == listed[:5]


def test_excluded_items_are_left_out_and_the_next_ones_fill_the_list(stored, api):
    caller, user, listed, _ = stored
    served, _ = batch(api, caller, user, limit=5, exclude_items=listed[:2])
    assert served == listed[2:7]


def test_filters_and_rules_apply_to_the_stored_list(stored, api):
    caller, user, listed, catalogue = stored
    category = catalogue[listed[0]]["category"]
    served, _ = batch(api, caller, user, limit=12, filters={"exclude": {"category": category}})
    assert served == [i for i in listed if catalogue[i]["category"] != category]
    cheap = [i for i in listed if catalogue[i]["price"] <= 100]
    served, codes = batch(api, caller, user, limit=12,
                          rules=[{"field": "price", "op": "lte", "value": 100}])
    assert served == cheap and len(cheap) < 12 and "filters_exhausted" in codes


def test_candidates_restrict_the_stored_list(stored, api):
    caller, user, listed, _ = stored
    wanted = [listed[5], listed[1], "item-not-listed"]
    assert batch(api, caller, user, limit=10, item_ids=wanted)[0] == [listed[1], listed[5]]


def test_the_frequency_cap_counts_and_holds_back_batch_lists(stored, api):
    caller, user, listed, _ = stored
    cap = {"max_impressions": 1, "window_hours": 24}
    first, _ = batch(api, caller, user, limit=4, surface="home", frequency_cap=cap)
    assert first == listed[:4]
    second, codes = batch(api, caller, user, limit=4, surface="home", frequency_cap=cap)
    assert second == listed[4:8] and "frequency_capped" in codes


def test_items_deactivated_since_the_generation_are_not_served(stored, api):
    caller, user, listed, _ = stored
    status, _, _ = api("DELETE", "/v1/items/{item_id}", caller=caller, path_params={"item_id": listed[0]})
    assert status == 204
    assert batch(api, caller, user, limit=3)[0] == listed[1:4]
