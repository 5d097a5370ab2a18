"""The recommend contract through the real handler against moto: every alias, warning and status
code, rules, placements, debug traces, frequency caps, tenant headers, time budgets, the GET and
validate variants, and the exposure log entry each served list leaves behind."""

from __future__ import annotations

import functools

import json

import pytest

from recengine.attribution.records import pseudonymous_id
from recengine.ranking import query as request_query
from recengine.ranking import serve as service
from recengine.runtime import runtime
from tests.integration.conftest import route_event
from tests.conftest import TEST_PSEUDONYM_KEY, invoke
from tests.integration.conftest import seed_tenant, train

URL = "/v1/recommend"


@pytest.fixture
def shop(aws, api):
    caller = aws.tenant("shop")
    data = seed_tenant(api, caller, users=40, items=60, events=10)
    record = train(caller)
    return caller, data, record


def rec(api, caller, body=None, **kwargs):
    return api("POST", URL, caller=caller, body=body, **kwargs)


def ids(body) -> list[str]:
    return [i["id"] for i in body["items"]]


def codes(body) -> set[str]:
    return {w["code"] for w in body["warnings"]}


def used_requests(api, caller) -> int:
    return api("GET", "/v1/billing/usage", caller=caller)[2]["requests_used"]


def with_headers(method, path, caller, body, headers, query=None):
    event = route_event(method, path, caller=caller, body=body, query=query)
    event["headers"].update(headers)
    event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    return invoke(method, path, event)


# ------------------------------------------------------------------ identity, size, model, surface
@pytest.mark.parametrize("identity", [{"userId": "user-0003"}, {"customerId": "user-0003"},
                                      {"user": {"user_id": "user-0003"}}])
def test_user_id_aliases_give_the_same_list(shop, api, identity):
    caller, _, _ = shop
    _, _, canonical = rec(api, caller, {"user_id": "user-0003", "limit": 5})
    status, _, aliased = rec(api, caller, {**identity, "limit": 5})
    assert status == 200 and ids(aliased) == ids(canonical) and len(ids(canonical)) == 5


@pytest.mark.parametrize("identity", [{"sessionId": "sess-0003-0"}, {"user": {"session_id": "sess-0003-0"}}])
def test_session_id_aliases_give_the_same_list(shop, api, identity):
    caller, _, _ = shop
    _, _, canonical = rec(api, caller, {"session_id": "sess-0003-0", "limit": 5})
    status, _, aliased = rec(api, caller, {**identity, "limit": 5})
    assert status == 200 and ids(aliased) == ids(canonical) and "anonymous_user" in codes(canonical)


@pytest.mark.parametrize("size", ["limit", "k", "count"])
def test_size_aliases_and_clipping(shop, api, size):
    caller, _, _ = shop
    status, _, body = rec(api, caller, {"user_id": "user-0001", size: 4})
    assert status == 200 and len(body["items"]) == 4 and "limit_clipped" not in codes(body)
    status, _, big = rec(api, caller, {"user_id": "user-0001", size: 500})
    assert status == 200 and "limit_clipped" in codes(big) and len(big["items"]) <= 100


def test_legacy_model_name_pins_a_version_and_an_unknown_one_is_a_404(shop, api):
    caller, _, record = shop
    status, _, body = rec(api, caller, {"user_id": "user-0001", "model_name": record["model_id"]})
    assert status == 200 and body["meta"]["model_id"] == record["model_id"]
    status, headers, problem = rec(api, caller, {"user_id": "user-0001", "model_name": "model_baseline-v1_nope"})
    assert status == 404 and problem["type"] == "/problems/model-not-found"
    assert headers["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("field,value", [("surface", "home"), ("placement", "hero_banner"), ("channel", "email")])
def test_surface_aliases_name_the_list_in_meta(shop, api, field, value):
    caller, _, _ = shop
    _, headers, body = rec(api, caller, {"user_id": "user-0001", field: value})
    assert body["meta"]["surface"] == value and body["meta"]["request_id"] == body["rec_id"] == headers["X-Request-Id"]


def test_request_id_is_honoured_as_rec_id(shop, api):
    caller, _, _ = shop
    status, headers, body = with_headers("POST", URL, caller, {"user_id": "user-0001"}, {"X-Request-Id": "integ-spec-1"})
    assert status == 200 and body["rec_id"] == "integ-spec-1" == body["meta"]["request_id"] == headers["X-Request-Id"]


def test_anonymous_callers_get_a_stable_derived_id_and_a_warning(shop, api):
    caller, _, _ = shop
    first = rec(api, caller, {"limit": 3})[2]
    again = rec(api, caller, {"customerId": "anonymous", "limit": 3})[2]
    from_session = rec(api, caller, {"customerId": "anonymous", "sessionId": "s-42", "limit": 3})[2]
    assert "anonymous_user" in codes(first) and first["meta"]["anonymous_id"] == again["meta"]["anonymous_id"]
    assert from_session["meta"]["anonymous_id"] != first["meta"]["anonymous_id"]
    assert first["meta"]["anonymous_id"].startswith("p_") and len(first["items"]) == 3


def test_unknown_fields_are_reported_not_refused(shop, api):
    caller, _, _ = shop
    status, _, body = rec(api, caller, {"customerId": "user-0001", "campaignTag": "x", "trackingPixels": ["c"]})
    assert status == 200 and "ignored_fields" in codes(body)
    message = next(w["message"] for w in body["warnings"] if w["code"] == "ignored_fields")
    assert "campaignTag" in message and "trackingPixels" in message


# ------------------------------------------------------------------ candidates, exclusions, rules
def test_exclusions_by_either_name_are_never_returned(shop, api):
    caller, _, _ = shop
    top = ids(rec(api, caller, {"user_id": "user-0002", "limit": 6})[2])
    for name in ("exclude_items", "excludeOffers"):
        body = rec(api, caller, {"user_id": "user-0002", "limit": 6, name: top[:3]})[2]
        assert not set(top[:3]) & set(ids(body)) and ids(body)[:3] == top[3:6]


def test_metadata_filters_include_exclude_and_price_range(shop, api):
    caller, data, _ = shop
    meta = {i["id"]: i for i in data.items}
    body = rec(api, caller, {"user_id": "user-0002", "limit": 5, "filters": {"include": {"category": ["books", "toys"]}}})[2]
    assert body["items"] and all(meta[i]["category"] in ("books", "toys") for i in ids(body))
    body = rec(api, caller, {"user_id": "user-0002", "limit": 8, "filters": {"exclude": {"category": "books"}}})[2]
    assert len(body["items"]) == 8 and all(meta[i]["category"] != "books" for i in ids(body))
    body = rec(api, caller, {"user_id": "user-0002", "limit": 5, "filters": {"range": {"price": {"min": 20, "max": 80}}}})[2]
    assert body["items"] and all(20 <= meta[i]["price"] <= 80 for i in ids(body))


def test_rules_read_segments_and_attributes(shop, api):
    caller, data, _ = shop
    meta = {i["id"]: i for i in data.items}
    rules = [{"field": "price", "op": "lte", "value_from": "attributes.budget"},
             {"field": "category", "op": "eq", "value": "games", "when": {"segments": ["gamers"]}}]
    body = rec(api, caller, {"user_id": "user-0002", "limit": 5, "rules": rules, "attributes": {"budget": 50}})[2]
    assert body["items"] and all(meta[i]["price"] <= 50 for i in ids(body))
    assert any(meta[i]["category"] != "games" for i in ids(body))  # not a gamer: the second rule is off
    body = rec(api, caller, {"user_id": "user-0002", "limit": 3, "rules": rules, "attributes": {"budget": 500},
                             "segments": ["gamers"]})[2]
    assert body["items"] and all(meta[i]["category"] == "games" for i in ids(body))
    body = rec(api, caller, {"user_id": "user-0002", "rules": rules[:1]})[2]
    assert "rule_skipped" in codes(body) and len(body["items"]) == 10


def test_filters_nothing_can_pass_say_so(shop, api):
    caller, _, _ = shop
    status, _, body = rec(api, caller, {"user_id": "user-0002", "filters": {"include": {"category": "no-such"}}})
    assert status == 200 and body["items"] == [] and "filters_exhausted" in codes(body)


def test_candidates_are_ranked_and_unknown_ones_dropped(shop, api):
    caller, data, _ = shop
    candidates = [i["id"] for i in data.items[:5]] + ["not-an-item"]
    body = rec(api, caller, {"user_id": "user-0009", "item_ids": candidates})[2]
    assert set(ids(body)) <= set(candidates[:5]) and "unknown_candidates" in codes(body)


# ------------------------------------------------------------------ placements, debug, caps
def test_placements_are_answered_grouped_and_deduplicated(shop, api):
    caller, _, _ = shop
    placements = [{"placementId": "hero", "limit": 3}, {"placement_id": "sidebar", "limit": 4}]
    plain = rec(api, caller, {"user_id": "user-0004", "placements": placements})[2]
    assert [p["placement_id"] for p in plain["placements"]] == ["hero", "sidebar"] and "items" not in plain
    assert [len(p["items"]) for p in plain["placements"]] == [3, 4]
    hero, side = (ids(p) for p in plain["placements"])
    assert set(hero) & set(side)  # the same user, the same ranking: overlap without deduplication
    dedup = rec(api, caller, {"user_id": "user-0004", "placements": placements, "deduplicate": True})[2]
    hero, side = (ids(p) for p in dedup["placements"])
    assert not set(hero) & set(side) and len(side) == 4 and hero == ids(plain["placements"][0])


def test_debug_shows_score_parts_and_why_items_were_filtered(shop, api):
    caller, _, _ = shop
    top = ids(rec(api, caller, {"user_id": "user-0005", "limit": 3})[2])
    body = rec(api, caller, {"user_id": "user-0005", "limit": 3, "debug": True, "exclude_items": top[:1],
                             "filters": {"exclude": {"category": "books"}}})[2]
    trace = body["debug"]
    parts = {c["id"]: c for c in trace["contributions"]}
    assert set(parts) == set(ids(body))
    for item in body["items"]:
        c = parts[item["id"]]
        assert {"collaborative", "content", "context", "popularity", "total"} <= set(c)
        assert c["total"] == pytest.approx(item["score"], abs=1e-4)
    reasons = {f["id"]: f["reason"] for f in trace["filtered"]}
    assert reasons[top[0]] == "excluded by the request"
    assert trace["rules"] == ["category not_in ['books']"]
    assert all(r.startswith("rule:") or r in ("excluded by the request", "inactive") for r in reasons.values())
    assert "debug" not in rec(api, caller, {"user_id": "user-0005"})[2]


def test_frequency_cap_holds_back_items_shown_too_often_on_that_surface(shop, api):
    caller, _, _ = shop
    ask = {"user_id": "user-0006", "limit": 4, "surface": "home",
           "frequency_cap": {"max_impressions": 2, "window_hours": 24}}
    first = ids(rec(api, caller, ask)[2])
    assert ids(rec(api, caller, ask)[2]) == first  # shown once so far: still allowed
    third = rec(api, caller, ask)[2]
    assert not set(first) & set(ids(third)) and "frequency_capped" in codes(third)
    elsewhere = rec(api, caller, {**ask, "surface": "email"})[2]
    assert ids(elsewhere) == first  # the cap is per surface


# ------------------------------------------------------------------ context
def test_context_without_a_learned_effect_is_reported(shop, api):
    caller, _, _ = shop
    status, _, body = rec(api, caller, {"user_id": "user-0001", "context": {"device_type": "mobile",
                                                                             "user_region": "US-CA"}})
    model = runtime().models.get(caller.tenant_id)
    assert status == 200
    assert ("context_not_learned" in codes(body)) == (not model.blend.w_context > 0)


# ------------------------------------------------------------------ variants and status codes
def test_get_variant_and_api_prefix_answer_like_post(shop, api):
    caller, _, _ = shop
    posted = rec(api, caller, {"user_id": "user-0007", "limit": 4, "surface": "home"})[2]
    status, _, got = api("GET", URL, caller=caller, query={"user_id": "user-0007", "limit": "4", "surface": "home"})
    assert status == 200 and ids(got) == ids(posted) and got["meta"]["surface"] == "home"
    status, _, got = api("GET", "/api/v1/recommend", caller=caller, headers={"X-Tenant-Id": caller.tenant_id},
                         query={"customerId": "user-0007", "limit": "4", "debug": "true", "exclude_items": "x,y"})
    assert status == 200 and [d["offerId"] for d in got["decisions"]] == ids(posted) and "debugTrace" in got
    assert got["interactionId"] and [d["rank"] for d in got["decisions"]] == [1, 2, 3, 4]
    status, headers, prefixed = api("POST", "/api/v1/recommend", caller=caller, body={"userId": "user-0007", "count": 4})
    assert status == 200 and [i["itemId"] for i in prefixed] == ids(posted)  # RecommendAI's bare array
    assert [i["explanation"] for i in prefixed] == [i["reason"] for i in posted["items"]]
    assert {i["algorithm"] for i in prefixed} == {posted["meta"]["algorithm"]}
    assert [i["score"] for i in prefixed] == [i["score"] for i in posted["items"]]
    status, _, canonical = api("POST", "/api/v1/recommend", caller=caller, body={"userId": "user-0007", "count": 4},
                               headers={"X-Api-Dialect": "v1"})
    assert status == 200 and ids(canonical) == ids(posted)
    status, _, similar = api("POST", "/api/v1/similar", caller=caller, body={"itemId": ids(posted)[0], "count": 3})
    same = api("POST", "/v1/similar", caller=caller, body={"item_id": ids(posted)[0], "limit": 3})[2]
    assert status == 200 and similar == [{"itemId": i["id"], "score": i["score"]} for i in same["items"]]


def test_deep_learning_is_served_by_the_strongest_model_and_says_so(shop, api):
    caller, _, _ = shop
    hybrid = rec(api, caller, {"user_id": "user-0007", "limit": 4})[2]
    status, _, body = rec(api, caller, {"user_id": "user-0007", "limit": 4, "algorithm": "deep-learning"})
    assert status == 200 and ids(body) == ids(hybrid) and "algorithm_substituted" in codes(body)
    status, headers, seed = api("POST", "/api/v1/recommend", caller=caller,
                                body={"userId": "user-0007", "count": 4, "algorithm": "deep-learning"})
    assert status == 200 and [i["itemId"] for i in seed] == ids(hybrid)
    assert all(i["algorithm"] == "hybrid" and "deep-learning requested" in i["explanation"] for i in seed)
    assert "algorithm_substituted" in headers.get("X-Recommendation-Warnings", "")


def test_validate_reports_warnings_without_ranking_or_metering(shop, api):
    caller, _, _ = shop
    before = used_requests(api, caller)
    status, _, body = api("POST", "/v1/recommend/validate", caller=caller,
                          body={"surface": "home", "k": 500, "user": {"user_id": "u_1"}, "campaignTag": "f",
                                "model_id": "model_x-v9_missing"})
    assert status == 200 and body["valid"] is True and "items" not in body
    assert {"limit_clipped", "ignored_fields", "unknown_model"} <= codes(body)
    assert body["request"]["limit"] == 100 and body["request"]["user_id"] == "u_1"
    status, _, problem = api("POST", "/v1/recommend/validate", caller=caller, body={"limit": 0})
    assert status == 422 and problem["errors"][0]["field"] == "limit"
    assert used_requests(api, caller) == before


def test_tenant_header_must_match_the_key(shop, api):
    caller, _, _ = shop
    for header in ("X-Org-Id", "X-Tenant-Id"):
        status, _, problem = with_headers("POST", URL, caller, {"user_id": "u"}, {header: "someone-else"})
        assert status == 403 and problem["type"] == "/problems/forbidden"
    status, _, _ = with_headers("POST", URL, caller, {"user_id": "u"}, {"X-Org-Id": caller.tenant_id})
    assert status == 200


def test_a_request_past_its_time_budget_is_a_408_and_not_billed(shop, api, monkeypatch):
    caller, _, _ = shop
    before = used_requests(api, caller)
    ticks = iter(range(0, 100_000, 5))  # each reading of the request clock is 5 s after the last
    monkeypatch.setattr(request_query, "_monotonic", lambda: float(next(ticks)))
    status, headers, problem = rec(api, caller, {"user_id": "user-0001", "timeout_ms": 50})
    assert status == 408 and problem["type"] == "/problems/request-timeout" and headers["Retry-After"]
    monkeypatch.undo()
    assert used_requests(api, caller) == before


@pytest.mark.parametrize("raw,content_type,status,slug", [
    ("{not json", "application/json", 400, "malformed-json"),
    ('{"user_id": "u"}', "text/plain", 415, "unsupported-media-type"),
    ('{"user_id": "u", "limit": 0}', "application/json", 422, "validation-error"),
    ('{"user_id": "u", "item_ids": []}', "application/json", 422, "validation-error"),
    ('{"user_id": "u", "filters": {"include": {"bad field!": 1}}}', "application/json", 422, "validation-error"),
    ('{"user_id": "u", "rules": [{"field": "price", "op": "lte"}]}', "application/json", 422, "validation-error"),
    ('{"user_id": "u", "placements": [{"placement_id": "a"}, {"placement_id": "a"}]}', "application/json", 422,
     "validation-error"),
])
def test_malformed_requests_get_problem_details(shop, api, raw, content_type, status, slug):
    caller, _, _ = shop
    event = route_event("POST", URL, caller=caller, body={})
    event["body"] = raw
    event["headers"]["Content-Type"] = content_type
    got, headers, problem = invoke("POST", URL, event)
    assert got == status and problem["type"] == f"/problems/{slug}" and headers["Content-Type"] == "application/problem+json"


def test_no_key_is_a_401(aws, api):
    status, _, problem = api("POST", URL, caller=None, body={"user_id": "u"})
    assert status == 401 and problem["type"] == "/problems/unauthorized"


# ------------------------------------------------------------------ exposures and outcomes
def test_every_served_list_is_logged_as_an_exposure_without_raw_user_ids(shop, api):
    jsonschema = pytest.importorskip("jsonschema")
    from tools.attribution.report import schema_path

    caller, _, _ = shop
    _, _, body = rec(api, caller, {"user_id": "user-0008", "surface": "home",
                                   "placements": [{"placement_id": "hero", "limit": 2}, {"placement_id": "feed"}]})
    key = pseudonymous_id(TEST_PSEUDONYM_KEY, caller.tenant_id, "user:user-0008")
    rows = runtime().exposures.recent(caller.tenant_id, key, 0)
    assert {r["placement"] for r in rows} == {"hero", "feed"}
    schema = json.loads(schema_path("exposure.v1").read_text())
    for row in rows:
        record = runtime().exposures.as_record(row)
        jsonschema.validate(record, schema)
        assert record["request_id"] == body["rec_id"] and "user-0008" not in json.dumps(record)
        served = next(p for p in body["placements"] if p["placement_id"] == record["placement"])
        assert [i["id"] for i in record["items"]] == ids(served)
        assert [i["position"] for i in record["items"]] == list(range(1, len(served["items"]) + 1))


def test_outcomes_join_their_exposures_in_the_exported_logs(shop, api, tmp_path, capsys):
    from tools.attribution.__main__ import main

    caller, _, _ = shop
    clicked = []
    for n, user in enumerate(["user-0010", "user-0011", "user-0012"]):
        _, _, body = rec(api, caller, {"user_id": user, "limit": 4, "surface": "home"})
        if n < 2:  # two of three lists get a click on their second item; one of them a purchase too
            item = body["items"][1]["id"]
            events = [{"user_id": user, "item_id": item, "type": "click", "request_id": body["rec_id"]}]
            if n == 0:
                events.append({"user_id": user, "item_id": item, "type": "purchase", "request_id": body["rec_id"]})
            assert api("POST", "/v1/interactions", caller=caller, body={"interactions": events})[0] == 201
            clicked.append(item)
    exposures, outcomes = tmp_path / "exposures.jsonl", tmp_path / "outcomes.jsonl"
    assert main(["export", "--tenant", caller.tenant_id, "--exposures", str(exposures), "--outcomes", str(outcomes)]) == 0
    assert main(["validate", "--schema", "outcome.v1", "--input", str(outcomes)]) == 0
    capsys.readouterr()
    assert main(["report", "--exposures", str(exposures), "--outcomes", str(outcomes), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["join_rate"] == 1.0 and report["joined_outcomes"] == 3
    [group] = [g for g in report["groups"] if g["surface"] == "home"]
    assert group["lists"] == 3 and group["impressions"] == 12
    assert group["ctr"] == pytest.approx(2 / 12) and group["conversion"] == pytest.approx(1 / 12)
    assert "user-0010" not in exposures.read_text() + outcomes.read_text()


def test_deduplicate_without_placements_is_explained(shop, api):
    caller, _, _ = shop
    body = rec(api, caller, {"user_id": "user-0001", "deduplicate": True})[2]
    assert "deduplicate_without_placements" in codes(body) and len(body["items"]) == 10


def test_a_failed_exposure_write_still_serves_and_says_so(shop, api, monkeypatch):
    from recengine.errors import StoreError
    from recengine.attribution.store import ExposureStore

    caller, _, _ = shop

    def down(self, record):
        raise StoreError("put_item failed (ProvisionedThroughputExceededException)")

    monkeypatch.setattr(ExposureStore, "put", down)
    status, _, body = rec(api, caller, {"user_id": "user-0001", "limit": 3})
    assert status == 200 and len(body["items"]) == 3 and "exposure_not_stored" in codes(body)


def test_a_frequency_cap_without_an_exposure_log_is_reported(shop):
    caller, _, _ = shop
    c = runtime()
    query = request_query.Query(caller.tenant_id, "user-0001", user_key=None, frequency_cap=(1, 3600.0))
    result = service.serve(service.Deps(c.models, c.interactions, c.items, c.popularity, None), query)
    assert "frequency_cap_unavailable" in codes({"warnings": result.warnings}) and result.items


def test_the_decisioning_dialect_limits_and_session_ids(shop, api):
    """A `customerId` request: 5 offers unless asked, at most 50; a malformed sessionId is a 400; with
    placements, the grouped (V2) answer; the interactionId is the request id outcomes quote."""
    caller, _, _ = shop
    status, _, problem = api("POST", "/api/v1/recommend", caller=caller, body={"customerId": "user-0007"})
    assert status == 401 and "X-Tenant-Id" in problem["detail"]  # the dialect's tenant header is required
    api = functools.partial(api, headers={"X-Tenant-Id": caller.tenant_id})
    status, headers, got = api("POST", "/api/v1/recommend", caller=caller, body={"customerId": "user-0007"})
    assert status == 200 and len(got["decisions"]) == 5 and got["interactionId"] == headers["X-Request-Id"]
    got = api("POST", "/api/v1/recommend", caller=caller, body={"customerId": "user-0007", "limit": 80})[2]
    assert len(got["decisions"]) == 50 and "limit_clipped" in codes(got)
    for bad in ("not alnum!!" * 10, "x" * 65, "a b"):
        status, _, problem = api("POST", "/api/v1/recommend", caller=caller,
                                 body={"customerId": "user-0007", "sessionId": bad})
        assert status == 400 and "sessionId" in problem["detail"]
    ok = api("POST", "/api/v1/recommend", caller=caller,
             body={"customerId": "user-0007", "sessionId": "3f9a6c1e-0b7d-4e21-9a1b-2c3d4e5f6a7b"})
    assert ok[0] == 200
    grouped = api("POST", "/api/v1/recommend", caller=caller, body={
        "customerId": "user-0007", "placements": [{"placementId": "hero", "limit": 2}, {"placementId": "side"}],
        "deduplicate": True})[2]
    assert [p["placementId"] for p in grouped["placements"]] == ["hero", "side"]
    assert len(grouped["placements"][0]["decisions"]) == 2
