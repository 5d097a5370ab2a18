"""Every handler against moto: given a tenant and data, when a request arrives, then the answer."""

from __future__ import annotations

import json

import pytest

from local.demo import generate
from recengine.runtime import runtime
from recengine.models.training import train_tenant
from tests.conftest import api_event, invoke, load_event


def seed(call, caller, users=60, items=160, events=15, seed=3):
    data = generate(n_users=users, n_items=items, events_per_user=events, seed=seed)
    for start in range(0, len(data.items), 500):
        status, _, _ = call("POST", "/v1/items", caller=caller, body={"items": data.items[start:start + 500]})
        assert status == 200
    for start in range(0, len(data.interactions), 500):
        status, _, body = call("POST", "/v1/interactions", caller=caller,
                               body={"interactions": data.interactions[start:start + 500]})
        assert status in (200, 201), body
    return data


def train(caller, force=False):
    c = runtime()
    return train_tenant(c.training, caller.tenant_id, force=force)


@pytest.fixture
def trained(aws, call):
    caller = aws.tenant("shop")
    data = seed(call, caller)
    record = train(caller)
    return caller, data, record


# ------------------------------------------------------------------ events/ through the handlers
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


def test_train_function_handles_the_schedule_event(aws, call, lambda_context):
    from local.gateway import load_handler
    from local.template import Route

    caller = aws.tenant()
    seed(call, caller, users=15, items=20, events=6)
    handler = load_handler(Route("TrainFunction", "functions/train/", "app.lambda_handler", "", "", False))
    first = handler(load_event("train_schedule"), lambda_context)
    assert first["trained"] == [caller.tenant_id]
    second = handler(load_event("train_schedule"), lambda_context)
    assert second["trained"] == [] and second["skipped"] == [caller.tenant_id]


# ------------------------------------------------------------------ items
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


# ------------------------------------------------------------------ interactions
def test_repeated_event_ids_are_not_counted_twice(aws, call):
    caller = aws.tenant()
    event = {"user_id": "u1", "session_id": "s1", "item_id": "a", "type": "like", "event_id": "e-1"}
    status, _, body = call("POST", "/v1/interactions", caller=caller, body={"interactions": [event]})
    assert status == 201 and body["accepted"] == 1
    status, _, body = call("POST", "/v1/interactions", caller=caller,
                           body={"interactions": [event, {**event, "event_id": "e-2"}]})
    assert body["accepted"] == 1 and body["duplicate_event_ids"] == ["e-1"]
    history = runtime().interactions.recent_for_user(caller.tenant_id, "u1", 10)
    assert sorted(r["event_id"] for r in history) == ["e-1", "e-2"]
    assert history[0]["weight"] == 4.0
    session = runtime().interactions.recent_for_session(caller.tenant_id, "s1", 10)
    assert len(session) == 2


def test_a_retry_completes_an_attempt_that_failed_after_claiming(aws, call, monkeypatch):
    from recengine.errors import StoreError
    from recengine.events import store as dynamo

    caller = aws.tenant()
    event = {"user_id": "u1", "item_id": "a", "type": "purchase", "event_id": "e-9", "timestamp": 1.7e9}

    def broken(db, rows):
        raise StoreError("batch_write_item failed (ProvisionedThroughputExceededException)")

    monkeypatch.setattr(dynamo, "batch_put", broken)
    status, headers, body = call("POST", "/v1/interactions", caller=caller, body=event)
    assert status == 503 and headers["Retry-After"] and "Throughput" not in json.dumps(body)
    monkeypatch.undo()
    status, _, body = call("POST", "/v1/interactions", caller=caller, body=event)
    assert body["duplicates"] == 1
    assert [r["event_id"] for r in runtime().interactions.recent_for_user(caller.tenant_id, "u1", 5)] == ["e-9"]


# ------------------------------------------------------------------ recommend
def test_recommend_before_any_training_says_so(aws, call):
    caller = aws.tenant()
    status, _, body = call("POST", "/v1/recommend", caller=caller, body={"user_id": "u"})
    assert status == 200 and body["items"] == [] and body["warnings"][0]["code"] == "no_model"


def test_recommendations_are_personal_sorted_and_skip_consumed_items(trained, call):
    caller, data, _ = trained
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


def test_unknown_user_gets_popular_items_with_a_warning(trained, call):
    caller, _, _ = trained
    _, _, body = call("POST", "/v1/recommend", caller=caller, body={"user_id": "stranger", "limit": 3})
    assert len(body["items"]) == 3 and body["warnings"][0]["code"] == "unknown_user"


def test_a_new_interaction_changes_the_next_recommendation_without_retraining(trained, call):
    caller, data, _ = trained
    user = "brand-new-user"
    _, _, before = call("POST", "/v1/recommend", caller=caller, body={"user_id": user, "limit": 5})
    books = [i["id"] for i in data.items if i["category"] == "books"][:3]
    call("POST", "/v1/interactions", caller=caller,
         body={"interactions": [{"user_id": user, "item_id": b, "type": "purchase"} for b in books]})
    _, _, after = call("POST", "/v1/recommend", caller=caller, body={"user_id": user, "limit": 5})
    assert [i["id"] for i in after["items"]] != [i["id"] for i in before["items"]]
    assert not set(books) & {i["id"] for i in after["items"]}
    assert after["warnings"] == []


def test_the_session_shifts_results_at_once(trained, call):
    caller, data, _ = trained
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


def test_deactivated_items_are_never_recommended_again(trained, call):
    caller, _, _ = trained
    _, _, body = call("POST", "/v1/recommend", caller=caller, body={"user_id": "stranger", "limit": 5})
    top = body["items"][0]["id"]
    call("DELETE", "/v1/items/{item_id}", caller=caller, path_params={"item_id": top})
    for payload in ({"user_id": "stranger", "limit": 20}, {"user_id": "user-0001", "limit": 50},
                    {"user_id": "stranger", "item_ids": [top, body["items"][1]["id"]]}):
        _, _, again = call("POST", "/v1/recommend", caller=caller, body=payload)
        assert top not in {i["id"] for i in again["items"]}
    _, _, similar = call("POST", "/v1/similar", caller=caller, body={"item_id": body["items"][1]["id"], "limit": 50})
    assert top not in {i["id"] for i in similar["items"]}


def test_candidates_are_ranked_and_unknown_ones_dropped_with_a_warning(trained, call):
    caller, data, _ = trained
    candidates = [data.items[0]["id"], data.items[5]["id"], "not-an-item"]
    _, _, body = call("POST", "/v1/recommend", caller=caller, body={"user_id": "stranger", "item_ids": candidates})
    assert {i["id"] for i in body["items"]} <= set(candidates[:2])
    assert "unknown_candidates" in {w["code"] for w in body["warnings"]}


def test_x_request_id_is_echoed_as_rec_id(trained, call):
    caller, _, _ = trained
    status, headers, body = call("POST", "/v1/recommend", caller=caller, body={"user_id": "u"},
                                 headers={"X-Request-Id": "req-abc.123"})
    assert body["rec_id"] == "req-abc.123" == headers["X-Request-Id"]


# ------------------------------------------------------------------ similar
def test_similar_items_and_unknown_item(trained, call):
    caller, data, _ = trained
    item = data.interactions[0]["item_id"]
    status, _, body = call("POST", "/v1/similar", caller=caller, body={"item_id": item, "limit": 4})
    assert status == 200 and len(body["items"]) == 4 and item not in {i["id"] for i in body["items"]}
    status, _, body = call("POST", "/v1/similar", caller=caller, body={"item_id": "ghost"})
    assert status == 404 and body["type"] == "/problems/not-found"


def test_similar_for_a_catalogue_item_without_interactions_falls_back(trained, call):
    caller, _, _ = trained
    call("POST", "/v1/items", caller=caller, body={"items": [{"id": "fresh-item", "title": "New"}]})
    _, _, body = call("POST", "/v1/similar", caller=caller, body={"item_id": "fresh-item", "limit": 3})
    assert len(body["items"]) == 3 and body["warnings"][0]["code"] == "item_not_in_model"


# ------------------------------------------------------------------ errors
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


# ------------------------------------------------------------------ tenancy
def test_tenants_never_see_each_others_data(trained, aws, call):
    a, data, _ = trained
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


# ------------------------------------------------------------------ serving cache
def test_a_corrupt_new_version_is_skipped_and_the_previous_keeps_serving(trained, call, monkeypatch):
    caller, _, first = trained
    c = runtime()
    _, _, before = call("POST", "/v1/recommend", caller=caller, body={"user_id": "user-0002"})
    assert before["meta"]["model_id"] == first["model_id"]
    # A new live version whose artefact is missing from S3.
    c.registry.put_version(caller.tenant_id, {"model_id": "model_als-v9_broken", "status": "live"})
    c.registry.set_live(caller.tenant_id, "model_als-v9_broken", 0)
    monkeypatch.setattr(c.models, "refresh_s", 0.0)
    status, _, after = call("POST", "/v1/recommend", caller=caller, body={"user_id": "user-0002"})
    assert status == 200 and after["meta"]["model_id"] == first["model_id"] and after["items"] == before["items"]


def test_a_retrained_model_is_picked_up_after_the_refresh_interval(trained, call, monkeypatch):
    caller, _, first = trained
    call("POST", "/v1/interactions", caller=caller, body={"user_id": "u-late", "item_id": "item-00001", "type": "like"})
    second = train(caller)
    assert second["model_id"] != first["model_id"]
    monkeypatch.setattr(runtime().models, "refresh_s", 0.0)
    _, _, body = call("POST", "/v1/recommend", caller=caller, body={"user_id": "u-late"})
    assert body["meta"]["model_id"] == second["model_id"]


# ------------------------------------------------------------------ algorithms and reasons
@pytest.mark.parametrize("algorithm", ["hybrid", "collaborative", "content-based", "popular", "trending"])
def test_every_algorithm_answers_with_reasons(trained, call, algorithm):
    caller, data, _ = trained
    user = next(iter(data.user_tastes))
    status, _, body = call("POST", "/v1/recommend", caller=caller, body={"user_id": user, "limit": 5, "algorithm": algorithm})
    assert status == 200 and len(body["items"]) == 5 and body["meta"]["algorithm"] == algorithm
    assert all(isinstance(i["reason"], str) and i["reason"] for i in body["items"])
    if algorithm in ("popular", "trending"):
        assert all(i["reason"].startswith(algorithm) for i in body["items"])


def test_collaborative_reasons_name_a_liked_item_by_title(trained, call):
    caller, data, _ = trained
    user = next(iter(data.user_tastes))
    titles = {i["title"] for i in data.items}
    _, _, body = call("POST", "/v1/recommend", caller=caller, body={"user_id": user, "limit": 5, "algorithm": "collaborative"})
    liked = [i["reason"].removeprefix("because you liked ") for i in body["items"] if i["reason"].startswith("because")]
    assert liked and all(t in titles for t in liked)


def test_unknown_algorithm_is_a_422(aws, call):
    status, _, body = call("POST", "/v1/recommend", caller=aws.tenant(), body={"user_id": "u", "algorithm": "deep-learning"})
    assert status == 422 and body["errors"][0]["field"] == "algorithm"


def test_a_catalogue_item_without_interactions_can_be_recommended_and_has_similar_items(aws, call):
    caller = aws.tenant()
    data = seed(call, caller)
    books = [i for i in data.items if i["category"] == "books"]
    call("POST", "/v1/items", caller=caller, body={"items": [
        {"id": "new-book", "title": "Brand new book", "category": "books", "tags": books[0]["tags"]}]})
    train(caller)
    reader = next(u for u, t in data.user_tastes.items() if t == ("books",))
    _, _, body = call("POST", "/v1/recommend", caller=caller,
                      body={"user_id": reader, "item_ids": ["new-book", "item-00001"], "algorithm": "content-based"})
    assert body["items"][0]["id"] == "new-book"
    status, _, similar = call("POST", "/v1/similar", caller=caller, body={"item_id": "new-book", "limit": 5})
    assert status == 200 and similar["warnings"] == []
    category = {i["id"]: i["category"] for i in data.items}
    assert sum(category.get(i["id"]) == "books" for i in similar["items"]) >= 3
