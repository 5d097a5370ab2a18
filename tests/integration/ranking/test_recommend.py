"""Recommend through the handler: given a trained shop, when a user asks, then personal, fresh and
explained lists, never another tenant's data."""

from __future__ import annotations

import pytest

from recengine.runtime import runtime


def test_recommend_before_any_training_says_so(aws, call):
    caller = aws.tenant()
    status, _, body = call("POST", "/v1/recommend", caller=caller, body={"user_id": "u"})
    assert status == 200 and body["items"] == [] and body["warnings"][0]["code"] == "no_model"


def test_recommendations_are_personal_sorted_and_skip_consumed_items(trained_shop, call):
    caller, data, _ = trained_shop
    category = {i["id"]: i["category"] for i in data.items}
    popular = [i["id"] for i in call("POST", "/v1/recommend", caller=caller, body={"user_id": "nobody", "limit": 100})[2]["items"]]
    in_taste = total = baseline = 0
    for user, tastes in list(data.user_tastes.items())[:20]:
        status, headers, body = call("POST", "/v1/recommend", caller=caller, body={"user_id": user, "limit": 5})
        assert status == 200 and body["rec_id"] == headers["X-Request-Id"]
        ids = [i["id"] for i in body["items"]]
        seen = {e["item_id"] for e in data.interactions if e["user_id"] == user}
        assert len(ids) == 5 and not seen & set(ids)
        scores = [i["score"] for i in body["items"]]
        assert scores == sorted(scores, reverse=True)
        in_taste += sum(category[i] in tastes for i in ids)
        baseline += sum(category[i] in tastes for i in [p for p in popular if p not in seen][:5])
        total += len(ids)
    print("in-taste", in_taste / total, "popular baseline", baseline / total)
    assert in_taste / total > 0.5 and in_taste > 1.5 * baseline


def test_unknown_user_gets_popular_items_with_a_warning(trained_shop, call):
    caller, _, _ = trained_shop
    _, _, body = call("POST", "/v1/recommend", caller=caller, body={"user_id": "stranger", "limit": 3})
    assert len(body["items"]) == 3 and body["warnings"][0]["code"] == "unknown_user"


def test_a_new_interaction_changes_the_next_recommendation_without_retraining(trained_shop, call):
    caller, data, _ = trained_shop
    user = "brand-new-user"
    _, _, before = call("POST", "/v1/recommend", caller=caller, body={"user_id": user, "limit": 5})
    books = [i["id"] for i in data.items if i["category"] == "books"][:3]
    call("POST", "/v1/interactions", caller=caller,
         body={"interactions": [{"user_id": user, "item_id": b, "type": "purchase"} for b in books]})
    _, _, after = call("POST", "/v1/recommend", caller=caller, body={"user_id": user, "limit": 5})
    assert [i["id"] for i in after["items"]] != [i["id"] for i in before["items"]]
    assert not set(books) & {i["id"] for i in after["items"]}
    assert after["warnings"] == []


def test_the_session_shifts_results_at_once(trained_shop, call):
    caller, data, _ = trained_shop
    user = next(iter(data.user_tastes))
    _, _, plain = call("POST", "/v1/recommend", caller=caller, body={"user_id": user, "limit": 10})
    other = next(c for c in ("toys", "kitchen", "garden", "music") if c not in data.user_tastes[user])
    picks = [i["id"] for i in data.items if i["category"] == other][:4]
    call("POST", "/v1/interactions", caller=caller,
         body={"interactions": [{"session_id": "live-1", "item_id": p, "type": "add_to_cart"} for p in picks]})
    _, _, with_session = call("POST", "/v1/recommend", caller=caller,
                              body={"user_id": user, "session_id": "live-1", "limit": 10})
    category = {i["id"]: i["category"] for i in data.items}
    share = lambda body: sum(category[i["id"]] == other for i in body["items"])  # noqa: E731
    assert share(with_session) > share(plain)


def test_deactivated_items_are_never_recommended_again(trained_shop, call):
    caller, _, _ = trained_shop
    _, _, body = call("POST", "/v1/recommend", caller=caller, body={"user_id": "stranger", "limit": 5})
    top = body["items"][0]["id"]
    call("DELETE", "/v1/items/{item_id}", caller=caller, path_params={"item_id": top})
    for payload in ({"user_id": "stranger", "limit": 20}, {"user_id": "user-0001", "limit": 50},
                    {"user_id": "stranger", "item_ids": [top, body["items"][1]["id"]]}):
        _, _, again = call("POST", "/v1/recommend", caller=caller, body=payload)
        assert top not in {i["id"] for i in again["items"]}
    _, _, similar = call("POST", "/v1/similar", caller=caller, body={"item_id": body["items"][1]["id"], "limit": 50})
    assert top not in {i["id"] for i in similar["items"]}


def test_candidates_are_ranked_and_unknown_ones_dropped_with_a_warning(trained_shop, call):
    caller, data, _ = trained_shop
    candidates = [data.items[0]["id"], data.items[5]["id"], "not-an-item"]
    _, _, body = call("POST", "/v1/recommend", caller=caller, body={"user_id": "stranger", "item_ids": candidates})
    assert {i["id"] for i in body["items"]} <= set(candidates[:2])
    assert "unknown_candidates" in {w["code"] for w in body["warnings"]}


@pytest.mark.parametrize("algorithm", ["hybrid", "collaborative", "content-based", "popular", "trending"])
def test_every_algorithm_answers_with_reasons(trained_shop, call, algorithm):
    caller, data, _ = trained_shop
    user = next(iter(data.user_tastes))
    status, _, body = call("POST", "/v1/recommend", caller=caller, body={"user_id": user, "limit": 5, "algorithm": algorithm})
    assert status == 200 and len(body["items"]) == 5 and body["meta"]["algorithm"] == algorithm
    assert all(isinstance(i["reason"], str) and i["reason"] for i in body["items"])
    if algorithm in ("popular", "trending"):
        assert all(i["reason"].startswith(algorithm) for i in body["items"])


def test_collaborative_reasons_name_a_liked_item_by_title(trained_shop, call):
    caller, data, _ = trained_shop
    user = next(iter(data.user_tastes))
    titles = {i["title"] for i in data.items}
    _, _, body = call("POST", "/v1/recommend", caller=caller, body={"user_id": user, "limit": 5, "algorithm": "collaborative"})
    liked = [i["reason"].removeprefix("because you liked ") for i in body["items"] if i["reason"].startswith("because")]
    assert liked and all(t in titles for t in liked)


def test_unknown_algorithm_is_a_422(aws, call):
    status, _, body = call("POST", "/v1/recommend", caller=aws.tenant(), body={"user_id": "u", "algorithm": "quantum"})
    assert status == 422 and body["errors"][0]["field"] == "algorithm"


def test_tenants_never_see_each_others_data(trained_shop, aws, call):
    a, data, _ = trained_shop
    b = aws.tenant("other")
    item = data.items[0]["id"]
    assert call("GET", "/v1/items/{item_id}", caller=b, path_params={"item_id": item})[0] == 404
    assert call("GET", "/v1/items", caller=b, query={})[2]["items"] == []
    assert call("DELETE", "/v1/items/{item_id}", caller=b, path_params={"item_id": item})[0] == 404
    _, _, rec = call("POST", "/v1/recommend", caller=b, body={"user_id": "user-0001"})
    assert rec["items"] == [] and rec["warnings"][0]["code"] == "no_model"
    assert call("POST", "/v1/similar", caller=b, body={"item_id": item})[0] == 404
    # b's interactions with a's user id land in b's space only
    call("POST", "/v1/interactions", caller=b, body={"user_id": "user-0001", "item_id": "zzz", "type": "view"})
    a_history = runtime().interactions.recent_for_user(a.tenant_id, "user-0001", 500)
    assert "zzz" not in {r["item_id"] for r in a_history}
