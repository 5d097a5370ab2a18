"""Decision flows on the recommend path, through the handlers on moto: a flow named by
`decisionFlowKey` or chosen by routing runs its candidates, stored qualification rules, contact
policies (from the exposure log and the customer's events), ranker, guardrails and limit; an
experiment splits customers between flows, stably, logs each assignment and says so in the answer.
A tenant without decisioning objects is served exactly as before."""

from __future__ import annotations

import pytest

from recengine.decisioning.experiments import assign
from recengine.decisioning.model import Experiment, Variant
from recengine.runtime import runtime
from tests.integration.conftest import seed_tenant, train

OFFERS = [f"item-{i:05d}" for i in range(8)]  # generated items: categories cycle, so these span several
NEW = "new-customer"  # no history: the model never drops an item the customer has already interacted with
EVEN = {"propensityScores": {o: 0.5 for o in OFFERS}}  # the same propensity for every offer


@pytest.fixture
def shop(aws, api):
    caller = aws.tenant("offers")
    seed_tenant(api, caller, users=40, items=60, events=10)
    # business fields on the offers: priority descending with the index, value ascending
    items = [{"id": o, "category": f"cat-{n % 3}", "priority": 100 - n, "value": 1 + n} for n, o in enumerate(OFFERS)]
    assert api("POST", "/v1/items", caller=caller, body={"items": items})[0] == 200
    train(caller)
    return caller


def make(api, caller, path, body):
    status, _, created = api("POST", path, caller=caller, body=body)
    assert status == 201, created
    return created


def offers_flow(api, caller, key, **fields):
    body = {"key": key, "name": key, "source": {"kind": "offers", "offer_ids": OFFERS}, "ranker": "priority",
            "limit": 5, **fields}
    return make(api, caller, "/v1/decisioning/flows", body)


def recommend(api, caller, **body):
    status, _, answer = api("POST", "/v1/recommend", caller=caller, body={"user_id": NEW, **body})
    assert status == 200, answer
    return answer


def ids(answer):
    return [i["id"] for i in answer["items"]]


def test_without_decisioning_objects_the_answer_is_unchanged(api, shop):
    answer = recommend(api, shop, limit=10)
    assert len(answer["items"]) == 10 and "decision_flow" not in answer["meta"]
    assert "experiment" not in answer["meta"]


def test_a_named_flow_ranks_its_offer_set_by_priority_within_its_limit(api, shop):
    offers_flow(api, shop, "by-priority")
    answer = recommend(api, shop, decisionFlowKey="by-priority", limit=10)
    assert ids(answer) == OFFERS[:5]  # highest priority first; the flow's limit (5) under the request's 10
    assert answer["meta"]["decision_flow"] == "by-priority"
    assert ids(recommend(api, shop, decisionFlowKey="by-priority", limit=3)) == OFFERS[:3]


def test_an_offer_set_is_offered_again_to_a_customer_who_interacted_with_it(api, shop):
    offers_flow(api, shop, "again")
    event = {"user_id": NEW, "item_id": OFFERS[0], "type": "click"}
    assert api("POST", "/v1/interactions", caller=shop, body={"interactions": [event]})[0] == 201
    assert ids(recommend(api, shop, decisionFlowKey="again")) == OFFERS[:5]  # contact policies decide, not a click
    assert OFFERS[0] not in ids(recommend(api, shop, limit=60))  # a model-sourced list still leaves it out


def test_an_unknown_flow_key_is_a_404_problem(api, shop):
    status, _, problem = api("POST", "/v1/recommend", caller=shop, body={"user_id": "u", "decisionFlowKey": "nope"})
    assert status == 404 and problem["type"] == "/problems/not-found"


def test_routing_picks_the_most_specific_flow_for_channel_and_placement(api, shop):
    offers_flow(api, shop, "email-any")
    offers_flow(api, shop, "email-hero", ranker="propensity_value")
    routes = [{"flow_key": "email-any", "channel": "email"},
              {"flow_key": "email-hero", "channel": "email", "placement": "hero_banner"}]
    assert api("PUT", "/v1/decisioning/routing", caller=shop, body={"routes": routes})[0] == 200
    hero = recommend(api, shop, channel="email", placement="hero_banner", attributes=EVEN)
    assert hero["meta"]["decision_flow"] == "email-hero"
    assert ids(hero) == list(reversed(OFFERS))[:5]  # propensity x value, the same propensity: by value
    assert recommend(api, shop, channel="email")["meta"]["decision_flow"] == "email-any"
    assert "decision_flow" not in recommend(api, shop, channel="web")["meta"]


def test_stored_rules_exclude_offers_for_a_segment_and_the_trace_says_why(api, shop):
    rule = make(api, shop, "/v1/decisioning/rules",
                {"name": "no first offers for students", "effect": "exclude", "target": {"offer_ids": OFFERS[:2]},
                 "conditions": [{"field": "segments", "op": "in", "value": ["student"]}]})
    offers_flow(api, shop, "ruled", rule_ids=[rule["rule_id"]])
    student = recommend(api, shop, decisionFlowKey="ruled", segments=["student"], debug=True)
    assert ids(student) == OFFERS[2:7]
    decision = student["debug"]["decision"]
    assert set(decision["qualification"]) == set(OFFERS[:2]) and decision["flow"] == "ruled"
    reasons = {f["id"]: f["reason"] for f in student["debug"]["filtered"]}
    assert reasons[OFFERS[0]].startswith("qualification:")
    assert ids(recommend(api, shop, decisionFlowKey="ruled", segments=["retiree"])) == OFFERS[:5]


def test_a_frequency_cap_policy_reads_the_exposure_log(api, shop):
    policy = make(api, shop, "/v1/decisioning/policies",
                  {"name": "once a day", "kind": "frequency_cap", "max_impressions": 1, "window_hours": 24})
    offers_flow(api, shop, "capped", policy_ids=[policy["policy_id"]], limit=3)
    first = recommend(api, shop, decisionFlowKey="capped")
    second = recommend(api, shop, decisionFlowKey="capped", debug=True)
    assert ids(first) == OFFERS[:3] and ids(second) == OFFERS[3:6]
    assert set(second["debug"]["decision"]["contact_policy"]) >= set(OFFERS[:3])


def test_a_cooldown_after_a_purchase_reads_the_customers_events(api, shop):
    policy = make(api, shop, "/v1/decisioning/policies",
                  {"name": "cool down", "kind": "cooldown", "outcome_type": "purchase", "hours": 72,
                   "same_offer": False})
    offers_flow(api, shop, "cooling", policy_ids=[policy["policy_id"]])
    assert ids(recommend(api, shop, decisionFlowKey="cooling")) == OFFERS[:5]
    event = {"user_id": NEW, "item_id": "item-00050", "type": "purchase"}
    assert api("POST", "/v1/interactions", caller=shop, body={"interactions": [event]})[0] == 201
    cooling = recommend(api, shop, decisionFlowKey="cooling", debug=True)
    assert ids(cooling) == []  # no offer at all for 72 h after any purchase
    assert "cooling down for 72 h after a purchase" in cooling["debug"]["decision"]["contact_policy"][OFFERS[0]]


def test_a_purchase_through_the_respond_api_starts_the_cooldown_of_that_offer(api, shop):
    policy = make(api, shop, "/v1/decisioning/policies",
                  {"name": "after a purchase", "kind": "cooldown", "outcome_type": "purchase", "hours": 24,
                   "same_offer": True})
    offers_flow(api, shop, "responded", policy_ids=[policy["policy_id"]])
    first = recommend(api, shop, decisionFlowKey="responded")
    assert ids(first) == OFFERS[:5]
    bought = {"interactionId": first["meta"]["request_id"], "offerId": OFFERS[1], "outcome": "purchase"}
    assert api("POST", "/api/v1/respond", caller=shop, body=bought)[0] == 201
    cooling = recommend(api, shop, decisionFlowKey="responded", debug=True)
    assert ids(cooling) == [OFFERS[0], *OFFERS[2:6]]  # the bought offer waits 24 h; the next one steps up
    assert "after a purchase of " + OFFERS[1] in cooling["debug"]["decision"]["contact_policy"][OFFERS[1]]


def test_guardrail_caps_offers_per_category(api, shop):
    offers_flow(api, shop, "diverse", max_per_category=1)
    answer = recommend(api, shop, decisionFlowKey="diverse")
    assert ids(answer) == OFFERS[:3]  # three categories (cat-0, cat-1, cat-2), one offer each


def test_an_experiment_splits_customers_between_flows_stably_and_logs_assignments(api, shop):
    offers_flow(api, shop, "arm-a")
    offers_flow(api, shop, "arm-b", ranker="propensity_value")
    created = make(api, shop, "/v1/experiments",
                   {"name": "a vs b", "variants": {"a": {"weight": 1, "flow_key": "arm-a"},
                                                   "b": {"weight": 1, "flow_key": "arm-b"}}})
    seen = {}
    for n in range(12):
        user = f"user-{n:04d}"
        answer = recommend(api, shop, user_id=user)
        again = recommend(api, shop, user_id=user)
        assert answer["meta"]["experiment"] == again["meta"]["experiment"]  # stable per customer
        variant = answer["meta"]["experiment"]["variant"]
        assert answer["meta"]["experiment"]["id"] == created["experiment_id"]
        assert answer["meta"]["decision_flow"] == {"a": "arm-a", "b": "arm-b"}[variant]
        seen[user] = variant
    assert set(seen.values()) == {"a", "b"}
    # the same hash as the service's: the variant is a function of the experiment and the pseudonymous key
    experiment = Experiment(created["experiment_id"], "a vs b", (Variant("a", 1, "arm-a"), Variant("b", 1, "arm-b")))
    keys = {u: runtime().pseudonyms.user_key(shop.tenant_id, u, None) for u in seen}
    assert all(assign(experiment, keys[u]).name == v for u, v in seen.items())
    stored = list(runtime().assignments.tenant_assignments(shop.tenant_id))
    assert {r["user_key"] for r in stored} == set(keys.values())
    assert all(r["experiment_id"] == created["experiment_id"] for r in stored)


def test_the_decisioning_dialect_shows_the_flow_and_a_grouped_flow_groups(api, shop):
    offers_flow(api, shop, "grouped", output="grouped")
    status, _, body = api("POST", "/api/v1/recommend", caller=shop, headers={"X-Tenant-Id": shop.tenant_id},
                          body={"customerId": NEW, "decisionFlowKey": "grouped", "placement": "sidebar"})
    assert status == 200, body
    assert body["decisionFlowKey"] == "grouped"
    assert [p["placementId"] for p in body["placements"]] == ["sidebar"]
    assert [d["offerId"] for d in body["placements"][0]["decisions"]] == OFFERS[:5]


def test_the_decisioning_dialect_refuses_a_missing_x_tenant_id_or_one_that_is_not_the_keys(api, shop):
    body = {"customerId": NEW, "limit": 2}
    for headers in ({}, {"X-Tenant-Id": " "}):
        status, _, problem = api("POST", "/api/v1/recommend", caller=shop, body=body, headers=headers)
        assert status == 401 and problem["type"] == "/problems/unauthorized", problem
    status, _, problem = api("GET", "/api/v1/recommend", caller=shop, query={"customerId": NEW})
    assert status == 401, problem
    status, _, problem = api("POST", "/api/v1/recommend", caller=shop, body=body,
                             headers={"X-Tenant-Id": "someone-else"})
    assert status == 401 and problem["type"] == "/problems/unauthorized", problem
    status, _, answer = api("POST", "/api/v1/recommend", caller=shop, body=body,
                            headers={"X-Tenant-Id": shop.tenant_id})
    assert status == 200 and len(answer["decisions"]) == 2
