"""The Respond API (seed 001) through the interactions handler on moto: given a decision served by
recommend, when the customer's outcome of one of its offers is posted with the decision's
interactionId, then it is recorded once under that customer (outcome.v1, stored for contact
policies), a repeat is a duplicate, an unknown decision is a 404 and an offer not shown a 422. Nested
context is kept, flattened, with the interaction and the exposure."""

from __future__ import annotations

import pytest

from recengine.runtime import runtime
from tests.integration.conftest import seed_tenant, train

RESPOND = "/api/v1/respond"


@pytest.fixture
def shop(aws, api):
    caller = aws.tenant("respond")
    data = seed_tenant(api, caller, users=20, items=30, events=8, seed=7)
    train(caller)
    return caller, data


def decide(api, caller, body):
    status, _, answer = api("POST", "/api/v1/recommend", caller=caller, body=body,
                            headers={"X-Tenant-Id": caller.tenant_id})  # the dialect's tenant header
    assert status == 200, answer
    return answer


def offers_of(answer) -> list[str]:
    if "placements" in answer:
        return [d["offerId"] for p in answer["placements"] for d in p["decisions"]]
    return [d["offerId"] for d in answer["decisions"]]


def test_an_outcome_joins_its_decision_under_the_decisions_customer(shop, api):
    caller, data = shop
    user = data.interactions[0]["user_id"]
    answer = decide(api, caller, {"customerId": user, "limit": 3})
    offer = offers_of(answer)[1]
    status, headers, body = api("POST", RESPOND, caller=caller, body={"interactionId": answer["interactionId"],
                                                                      "offerId": offer, "outcome": "purchase"})
    assert status == 201, body
    assert body["success"] is True and body["interactionId"] == answer["interactionId"]
    assert body["offerId"] == offer and body["outcome"] == "purchase" and body["duplicate"] is False
    assert body["timestamp"].endswith("Z")
    key = runtime().pseudonyms.user_key(caller.tenant_id, user, None)
    stored = runtime().exposures.outcomes(caller.tenant_id, key)
    assert [(o["schema"], o["request_id"], o["item_id"], o["type"]) for o in stored] == [
        ("outcome.v1", answer["interactionId"], offer, "purchase")]


def test_a_repeated_outcome_is_a_duplicate_and_counted_once(shop, api):
    caller, data = shop
    user = data.interactions[0]["user_id"]
    answer = decide(api, caller, {"customerId": user, "limit": 2})
    body = {"interactionId": answer["interactionId"], "offerId": offers_of(answer)[0], "outcome": "click"}
    assert api("POST", RESPOND, caller=caller, body=body)[0] == 201
    status, _, again = api("POST", RESPOND, caller=caller, body=body)
    assert status == 200 and again["duplicate"] is True
    assert api("POST", RESPOND, caller=caller, body={**body, "outcome": "purchase"})[0] == 201  # another outcome
    key = runtime().pseudonyms.user_key(caller.tenant_id, user, None)
    assert sorted(o["type"] for o in runtime().exposures.outcomes(caller.tenant_id, key)) == ["click", "purchase"]


def test_an_offer_of_any_placement_of_the_decision_may_be_responded_to(shop, api):
    caller, data = shop
    answer = decide(api, caller, {"customerId": data.interactions[0]["user_id"], "deduplicate": True,
                                  "placements": [{"placementId": "hero_banner", "limit": 1},
                                                 {"placementId": "sidebar", "limit": 2}]})
    last = offers_of(answer)[-1]
    status, _, body = api("POST", RESPOND, caller=caller, body={"interactionId": answer["interactionId"],
                                                                "offerId": last, "outcome": "click"})
    assert status == 201, body


def test_an_unknown_decision_is_a_404_problem(shop, api):
    caller, _ = shop
    status, headers, problem = api("POST", RESPOND, caller=caller, body={"interactionId": "never-made",
                                                                         "offerId": "x", "outcome": "click"})
    assert status == 404 and headers["Content-Type"] == "application/problem+json"
    assert problem["type"] == "/problems/not-found" and "never-made" in problem["detail"]


def test_an_offer_not_in_the_decision_is_a_422_problem(shop, api):
    caller, data = shop
    answer = decide(api, caller, {"customerId": data.interactions[0]["user_id"], "limit": 2})
    shown = set(offers_of(answer))
    other = next(i["id"] for i in data.items if i["id"] not in shown)
    status, headers, problem = api("POST", RESPOND, caller=caller, body={"interactionId": answer["interactionId"],
                                                                         "offerId": other, "outcome": "click"})
    assert status == 422 and headers["Content-Type"] == "application/problem+json"
    assert problem["type"] == "/problems/offer-not-in-decision"


@pytest.mark.parametrize("body", [{"interactionId": "r", "offerId": "x"}, {"interactionId": "r", "offerId": "x",
                                  "outcome": "adore"}, {"offerId": "x", "outcome": "click"},
                                  {"interactionId": "r", "offerId": "x", "outcome": "click", "value": -1}])
def test_an_invalid_response_is_a_422_validation_problem(shop, api, body):
    caller, _ = shop
    status, _, problem = api("POST", RESPOND, caller=caller, body=body)
    assert status == 422 and problem["type"] == "/problems/validation-error"


def test_nested_context_is_flattened_into_the_interaction_and_the_exposure(shop, api, tmp_path):
    from recengine.attribution.records import to_jsonl
    from tools.attribution.report import validate

    caller, data = shop
    user = data.interactions[0]["user_id"]
    context = {"device": "mobile", "location": {"city": "Paris", "geo": {"country": "FR"}}}
    answer = decide(api, caller, {"customerId": user, "limit": 2, "context": context})
    key = runtime().pseudonyms.user_key(caller.tenant_id, user, None)
    exposure = runtime().exposures.by_request(caller.tenant_id, answer["interactionId"])[0]
    assert {k: exposure["context"][k] for k in ("device", "location.city", "location.geo.country")} == {
        "device": "mobile", "location.city": "Paris", "location.geo.country": "FR"}
    assert exposure["user_key"] == key
    path = tmp_path / "exposures.jsonl"
    path.write_text(to_jsonl(exposure) + "\n")
    assert validate(path, "exposure.v1") == []
    event = {"user_id": user, "item_id": data.items[0]["id"], "type": "view", "event_id": "evt-nested",
             "context": context}
    assert api("POST", "/v1/interactions", caller=caller, body={"interactions": [event]})[0] == 201
    stored = next(e for e in runtime().interactions.recent_for_user(caller.tenant_id, user, 50)
                  if e.get("event_id") == "evt-nested")
    assert stored["context"] == {"device": "mobile", "location.city": "Paris", "location.geo.country": "FR"}


def test_too_deep_or_too_large_a_context_is_refused_naming_it(shop, api):
    caller, _ = shop
    deep = {"a": {"b": {"c": {"d": {"e": 1}}}}}
    status, _, problem = api("POST", "/api/v1/recommend", caller=caller, body={"customerId": "u", "context": deep},
                             headers={"X-Tenant-Id": caller.tenant_id})
    assert status == 422 and problem["errors"][0] == {"field": "context.a.b.c.d", "code": "invalid_context_value",
                                                      "message": "objects nest at most 4 deep"}, problem
    wide = {"a": {f"k{i}": i for i in range(65)}}
    status, _, problem = api("POST", "/v1/interactions", caller=caller,
                             body={"user_id": "u", "item_id": "i", "type": "view", "context": wide})
    assert status == 422 and problem["errors"][0]["field"].startswith("interactions.0.context"), problem


def test_stored_outcomes_are_exported_valid_apart_from_exposures_and_erased_with_the_customer(shop, api, tmp_path):
    from recengine.attribution.records import to_jsonl
    from recengine.attribution.service import export_outcomes
    from tools.attribution.report import validate

    caller, data = shop
    user = data.interactions[0]["user_id"]
    answer = decide(api, caller, {"customerId": user, "limit": 2})
    body = {"interactionId": answer["interactionId"], "offerId": offers_of(answer)[0], "outcome": "purchase",
            "value": 42.5}
    assert api("POST", RESPOND, caller=caller, body=body)[0] == 201
    store, key = runtime().exposures, runtime().pseudonyms.user_key(caller.tenant_id, user, None)
    # the frequency cap's read of recent exposures never sees an outcome row
    assert all(r.get("schema") == "exposure.v1" for r in store.recent(caller.tenant_id, key, 0.0))
    exported = list(export_outcomes(runtime().pseudonyms, caller.tenant_id, [], store.tenant_outcomes(caller.tenant_id)))
    assert [(o["request_id"], o["value"]) for o in exported] == [(answer["interactionId"], 42.5)]
    path = tmp_path / "outcomes.jsonl"
    path.write_text("".join(to_jsonl(o) + "\n" for o in exported))
    assert validate(path, "outcome.v1") == []
    assert store.delete_user(caller.tenant_id, key) >= 2  # the exposure and the outcome
    assert store.outcomes(caller.tenant_id, key) == [] and store.by_request(caller.tenant_id, answer["interactionId"]) == []


def test_a_response_is_metered_as_an_interaction_and_a_refused_one_taken_back(shop, api):
    caller, data = shop
    answer = decide(api, caller, {"customerId": data.interactions[0]["user_id"], "limit": 2})

    def used() -> int:
        return api("GET", "/v1/billing/usage", caller=caller)[2]["requests_used"]

    before = used()
    assert api("POST", RESPOND, caller=caller, body={"interactionId": "never-made", "offerId": "x",
                                                     "outcome": "click"})[0] == 404
    assert used() == before
    assert api("POST", RESPOND, caller=caller, body={"interactionId": answer["interactionId"],
                                                     "offerId": offers_of(answer)[0], "outcome": "click"})[0] == 201
    assert used() == before + 1
