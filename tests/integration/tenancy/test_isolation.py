"""Tenant isolation: tenant B's key, on every route, aimed at tenant A's items, users, sessions,
models, usage and invoices, sees none of it and changes none of it."""

from __future__ import annotations

import json
import time

import pytest

from local.demo import generate
from local.template import routes
from recengine.attribution.records import exposure_record
from recengine.attribution.service import respond
from recengine.billing import payments as billing
from recengine.runtime import runtime
from recengine.models.training import train_tenant
from tests.integration.conftest import drain_erasure_queue, set_requests

# Every route the template declares must be exercised below; a new route fails this test until it is.
COVERED = {("GET", "/health"), ("POST", "/v1/items"), ("GET", "/v1/items"), ("GET", "/v1/items/{item_id}"),
           ("GET", "/api/items"), ("GET", "/api/items/{item_id}"),
           ("DELETE", "/v1/items/{item_id}"), ("POST", "/v1/interactions"), ("POST", "/api/v1/interactions"), ("POST", "/api/v1/similar"), ("POST", "/v1/recommend"), ("GET", "/v1/recommend"),
           ("POST", "/v1/recommend/validate"), ("POST", "/api/v1/recommend"), ("GET", "/api/v1/recommend"),
           ("POST", "/v1/similar"), ("GET", "/v1/billing/plans"), ("GET", "/v1/billing/current"),
           ("GET", "/v1/billing/usage"), ("PUT", "/v1/billing/overage-cap"), ("GET", "/v1/billing/invoices"),
           ("POST", "/v1/billing/checkout"), ("POST", "/v1/billing/portal"), ("GET", "/api/billing/plans"),
           ("GET", "/api/billing/current"), ("GET", "/api/billing/usage"), ("PUT", "/api/billing/overage-cap"),
           ("GET", "/api/billing/invoices"), ("POST", "/api/billing/checkout"), ("POST", "/api/billing/portal"),
           ("GET", "/v1/models"), ("GET", "/v1/models/{model_id}"),
           ("POST", "/v1/models/{model_id}/promote"), ("POST", "/v1/models/{model_id}/rollback"),
           ("POST", "/v1/models/train"), ("GET", "/v1/models/jobs/{job_id}"),
           ("POST", "/v1/recommendations/generate"), ("GET", "/v1/recommendations/jobs/{job_id}"),
           ("DELETE", "/v1/users/{user_id}"), ("GET", "/v1/users/erasures/{job_id}"), ("POST", "/graphql"),
           ("POST", "/api/v1/respond")}
GRAPHQL_SIMILAR = "query ($itemId: String!) { getSimilarItems(itemId: $itemId, count: 3) { itemId score } }"
GRAPHQL_RECOMMEND = "query ($userId: String!) { getRecommendations(userId: $userId, count: 5) { itemId algorithm } }"
GRAPHQL_RECORD = ("mutation ($userId: String!, $itemId: String!) { recordInteraction(userId: $userId, itemId: $itemId, "
                  "interactionType: \"view\") { success } }")
DECISIONING = {"/v1/decisioning/rules": "rule_id", "/v1/decisioning/policies": "policy_id",
               "/v1/decisioning/flows": "flow_key", "/v1/experiments": "experiment_id"}
COVERED |= {(m, base) for base in DECISIONING for m in ("POST", "GET")}
COVERED |= {(m, f"{base}/{{{p}}}") for base, p in DECISIONING.items() for m in ("GET", "PUT", "DELETE")}
COVERED |= {("GET", "/v1/decisioning/routing"), ("PUT", "/v1/decisioning/routing")}


def load(api, caller, data, prefix=""):
    rename = (lambda s: f"{prefix}{s}") if prefix else (lambda s: s)
    items = [{**i, "id": rename(i["id"])} for i in data.items]
    events = [{**e, "item_id": rename(e["item_id"]), "user_id": rename(e["user_id"]),
               "session_id": rename(e["session_id"]), "event_id": rename(e["event_id"])} for e in data.interactions]
    assert api("POST", "/v1/items", caller=caller, body={"items": items})[0] == 200
    for start in range(0, len(events), 500):
        status, _, _ = api("POST", "/v1/interactions", caller=caller, body={"interactions": events[start:start + 500]})
        assert status == 201
    c = runtime()
    return train_tenant(c.training, caller.tenant_id)


@pytest.fixture
def two_tenants(aws, api, billing_clock, monkeypatch, configure):
    a, b = aws.tenant("alpha"), aws.tenant("beta")
    data = generate(n_users=40, n_items=60, events_per_user=10, seed=5)
    billing_clock.set_month(2026, 2)
    model_a = load(api, a, data)
    load(api, b, generate(n_users=30, n_items=50, events_per_user=10, seed=9), prefix="b-")
    set_requests(a.tenant_id, "2026-02", 123_456)
    api("PUT", "/v1/billing/overage-cap", caller=a, body={"cap_amount": 77.0})
    billing_clock.set_month(2026, 3)
    configure(BATCH_DISPATCH="inline")
    monkeypatch.setattr(runtime(), "payments", billing.InMemoryPaymentProvider())
    launched = []
    # cached_property: the launcher is swapped in the instance dict, without building the real one.
    monkeypatch.setitem(runtime().__dict__, "training_launcher", lambda tenant_id, job_id: launched.append(tenant_id))
    return a, b, data, model_a


def test_the_isolation_suite_covers_every_route():
    """The portal's routes (a token, not a key) are covered by tests/integration/portal/test_portal.py,
    the stored recommendations' by tests/integration/portal/test_stored_recommendations.py."""
    from tests.integration.portal.test_portal import ISOLATION_COVERED as PORTAL
    from tests.integration.portal.test_stored_recommendations import ISOLATION_COVERED as STORED

    assert {(r.method, r.path) for r in routes()} == COVERED | PORTAL | STORED
    assert not COVERED & PORTAL and not (COVERED | PORTAL) & STORED


def test_tenant_b_sees_and_changes_none_of_tenant_as_data(aws, two_tenants, api):
    a, b, data, model_a = two_tenants
    item = data.items[0]["id"]
    user = data.interactions[0]["user_id"]
    session = data.interactions[0]["session_id"]
    a_usage_before = api("GET", "/v1/billing/usage", caller=a)[2]
    seen: set[tuple[str, str]] = set()

    def b_calls(method, path, **kwargs):
        seen.add((method, path))
        return api(method, path, caller=b, **kwargs)

    # Catalogue.
    assert b_calls("GET", "/v1/items/{item_id}", path_params={"item_id": item})[0] == 404
    listed = b_calls("GET", "/v1/items", query={"limit": "100"})[2]["items"]
    assert listed and all(i["id"].startswith("b-") for i in listed)
    assert b_calls("GET", "/v1/items", query={"search": data.items[0]["title"]})[2]["items"] == []
    assert b_calls("GET", "/api/items/{item_id}", path_params={"item_id": item})[0] == 404
    page = b_calls("GET", "/api/items", query={"pageSize": "100"})[2]
    assert page["data"] and all(i["id"].startswith("b-") and i["tenantId"] == b.tenant_id for i in page["data"])
    assert b_calls("GET", "/api/items", query={"search": data.items[0]["title"]})[2]["total"] == 0
    assert b_calls("DELETE", "/v1/items/{item_id}", path_params={"item_id": item})[0] == 404
    assert runtime().items.get(a.tenant_id, item)["active"] is True

    # Users, sessions and models: B's model answers, knowing nothing of A's users or sessions.
    status, _, rec = b_calls("POST", "/v1/recommend", body={"user_id": user, "limit": 5})
    assert status == 200 and rec["warnings"][0]["code"] == "unknown_user"
    assert rec["meta"]["model_id"] != model_a["model_id"] and all(i["id"].startswith("b-") for i in rec["items"])
    _, _, rec = b_calls("POST", "/v1/recommend", body={"session_id": session, "limit": 5})
    assert "new_session" in {w["code"] for w in rec["warnings"]} and all(i["id"].startswith("b-") for i in rec["items"])
    assert b_calls("POST", "/v1/similar", body={"item_id": item})[0] == 404
    assert b_calls("POST", "/api/v1/similar", body={"itemId": item, "count": 3})[0] == 404
    _, _, got = b_calls("GET", "/v1/recommend", query={"user_id": user, "limit": "5"})
    assert all(i["id"].startswith("b-") for i in got["items"])
    _, _, got = b_calls("GET", "/api/v1/recommend", query={"customerId": user}, headers={"X-Tenant-Id": b.tenant_id})
    assert got["decisions"] and all(d["offerId"].startswith("b-") for d in got["decisions"])
    _, _, got = b_calls("POST", "/api/v1/recommend", body={"userId": user, "count": 5})
    assert got and all(i["itemId"].startswith("b-") for i in got)
    _, _, got = b_calls("POST", "/graphql", body={"query": GRAPHQL_SIMILAR, "variables": {"itemId": item}})
    assert got["data"] is None and [e["extensions"]["code"] for e in got["errors"]] == ["NOT_FOUND"]
    _, _, got = b_calls("POST", "/graphql", body={"query": GRAPHQL_RECOMMEND, "variables": {"userId": user}})
    assert got["data"]["getRecommendations"] and all(i["itemId"].startswith("b-") for i in got["data"]["getRecommendations"])
    _, _, got = b_calls("POST", "/api/v1/recommend", body={"userId": user, "model_id": model_a["model_id"]})
    assert got["type"] == "/problems/model-not-found"
    _, _, got = b_calls("POST", "/v1/recommend/validate", body={"user_id": user, "model_id": model_a["model_id"]})
    assert "unknown_model" in {w["code"] for w in got["warnings"]}
    assert b_calls("POST", "/v1/recommend", body={"user_id": user}, query=None)[0] == 200

    # Writes under A's ids land in B's space only.
    a_history = runtime().interactions.recent_for_user(a.tenant_id, user, 500)
    a_session = runtime().interactions.recent_for_session(a.tenant_id, session, 50)
    assert b_calls("POST", "/v1/items", body={"items": [{"id": item, "title": "B's own"}]})[0] == 200
    assert runtime().items.get(a.tenant_id, item)["metadata"]["title"] == data.items[0]["title"]
    assert b_calls("POST", "/v1/interactions", body={"user_id": user, "session_id": session, "item_id": item,
                                                     "type": "purchase"})[0] == 201
    assert b_calls("POST", "/api/v1/interactions", body={"userId": user, "itemId": item,
                                                         "interactionType": "click"})[0] == 201
    recorded = b_calls("POST", "/graphql", body={"query": GRAPHQL_RECORD, "variables": {"userId": user, "itemId": item}})
    assert recorded[2]["data"]["recordInteraction"]["success"] is True
    assert runtime().interactions.recent_for_user(a.tenant_id, user, 500) == a_history
    assert runtime().interactions.recent_for_session(a.tenant_id, session, 50) == a_session

    # Outcomes: B cannot respond to A's decision (no such decision for B), and nothing lands under A's customer.
    # (A's decision is written to its exposure log directly: a recommend call would count in A's usage)
    a_key = runtime().pseudonyms.user_key(a.tenant_id, user, None)
    runtime().exposures.put(exposure_record(request_id="a-decision", tenant_id=a.tenant_id, user_key=a_key,
                                            session_key=None, surface=None, placement=None, model_id=None,
                                            algorithm="hybrid", items=[{"id": item, "score": 1.0}], ts=time.time()))
    status, _, problem = b_calls("POST", "/api/v1/respond", body={"interactionId": "a-decision", "offerId": item,
                                                                  "outcome": "purchase"})
    assert status == 404 and problem["type"] == "/problems/not-found"
    assert runtime().exposures.outcomes(a.tenant_id, a_key) == []
    # the decision is A's to respond to (through the service: A's own call would count in A's usage)
    assert respond(runtime().exposures, a.tenant_id, "a-decision", item, "purchase", None).created

    # Model registry and training jobs: B sees, promotes, rolls back and trains only its own.
    a_job = api("POST", "/v1/models/train", caller=a)[2]["job_id"]
    a_live = runtime().registry.live_model_id(a.tenant_id)
    listed = b_calls("GET", "/v1/models")[2]
    assert listed["live_model_id"] != model_a["model_id"]
    assert model_a["model_id"] not in {m["model_id"] for m in listed["models"]}
    for method, route in (("GET", "/v1/models/{model_id}"), ("POST", "/v1/models/{model_id}/promote"),
                          ("POST", "/v1/models/{model_id}/rollback")):
        status, _, problem = b_calls(method, route, path_params={"model_id": model_a["model_id"]})
        assert status == 404 and problem["type"] == "/problems/model-not-found"
    assert b_calls("GET", "/v1/models/jobs/{job_id}", path_params={"job_id": a_job})[0] == 404
    status, _, b_job = b_calls("POST", "/v1/models/train")
    assert status == 202 and runtime().jobs.get_job(b.tenant_id, b_job["job_id"])
    assert runtime().jobs.get_job(a.tenant_id, b_job["job_id"]) is None
    assert runtime().registry.live_model_id(a.tenant_id) == a_live == model_a["model_id"]

    # Batch generation: B's job covers B's users only; A's job and lists are out of reach.
    a_batch = api("POST", "/v1/recommendations/generate", caller=a, body={"count": 3})[2]["job_id"]
    assert b_calls("GET", "/v1/recommendations/jobs/{job_id}", path_params={"job_id": a_batch})[0] == 404
    status, _, b_batch = b_calls("POST", "/v1/recommendations/generate", body={"count": 3})
    assert status == 202 and b_batch["total_users"] == 31  # its 30, plus A's user id it sent an event for
    b_list = runtime().stored_lists.get_list(b.tenant_id, user, "hybrid")
    assert b_list["job_id"] == b_batch["job_id"] and all(i["id"].startswith("b-") or i["id"] == item
                                                         for i in b_list["items"])
    assert runtime().stored_lists.get_list(a.tenant_id, user, "hybrid")["job_id"] == a_batch

    # Billing: B's own plan, usage, cap and invoices; A's are untouched.
    current = b_calls("GET", "/v1/billing/current")[2]
    assert current["tenant_id"] == b.tenant_id
    b_usage = b_calls("GET", "/v1/billing/usage")[2]
    # B's own March calls: seven answered recommends and three interaction writes, one of each over
    # GraphQL (the similar and model 404s, REST's and GraphQL's, and the validation are not billed).
    assert b_usage["tenant_id"] == b.tenant_id and b_usage["requests_used"] == 10
    assert b_usage["items_used"] == 51 and b_usage["users_used"] == 31  # its 50 and 30, plus A's ids sent by B
    assert b_calls("PUT", "/v1/billing/overage-cap", body={"cap_amount": 1.0})[0] == 200
    b_invoices = b_calls("GET", "/v1/billing/invoices")[2]["invoices"]
    assert [(i["period"], i["requests"]) for i in b_invoices] == [("2026-02", 1)]  # B's one loading call
    a_invoices = api("GET", "/v1/billing/invoices", caller=a)[2]["invoices"]
    assert a_invoices[0]["requests"] == 123_456 and a_invoices[0]["overage_budget_cap"] == 77.0
    checkout = b_calls("POST", "/v1/billing/checkout", body={"plan_id": "enterprise"})[2]
    assert runtime().payments.sessions[checkout["session_id"]][0] == b.tenant_id
    assert b_calls("POST", "/v1/billing/portal")[2] == {"portal_url": f"memory://portal/{b.tenant_id}"}
    # The same through the RecommendAI presenter (/api/billing/*).
    assert b_calls("GET", "/api/billing/current")[2]["tenantId"] == b.tenant_id
    seed_usage = b_calls("GET", "/api/billing/usage")[2]
    assert seed_usage["tenantId"] == b.tenant_id and seed_usage["requestsUsed"] == b_usage["requests_used"]
    assert b_calls("PUT", "/api/billing/overage-cap", body={"capAmount": 2.0})[2]["tenantId"] == b.tenant_id
    assert [i["period"] for i in b_calls("GET", "/api/billing/invoices")[2]] == ["2026-02"]
    checkout = b_calls("POST", "/api/billing/checkout", body={"planId": "plan-enterprise"})[2]
    assert runtime().payments.sessions[checkout["sessionId"]][0] == b.tenant_id
    assert b_calls("POST", "/api/billing/portal")[2] == {"portalUrl": f"memory://portal/{b.tenant_id}"}

    # User erasure: B erasing A's user id erases B's own copy of it; A's job is out of B's reach.
    a_history = runtime().interactions.recent_for_user(a.tenant_id, user, 500)
    a_erasure = api("DELETE", "/v1/users/{user_id}", caller=a, path_params={"user_id": "never-seen"})[2]["job_id"]
    status, _, b_erasure = b_calls("DELETE", "/v1/users/{user_id}", path_params={"user_id": user})
    assert status == 202 and drain_erasure_queue(aws) == 2
    assert b_calls("GET", "/v1/users/erasures/{job_id}", path_params={"job_id": a_erasure})[0] == 404
    erased = b_calls("GET", "/v1/users/erasures/{job_id}", path_params={"job_id": b_erasure["job_id"]})[2]
    assert erased["status"] == "succeeded" and erased["erased"]["history_rows"] == 3  # REST's two, GraphQL's one
    assert runtime().interactions.recent_for_user(b.tenant_id, user, 500) == []
    assert runtime().interactions.recent_for_user(a.tenant_id, user, 500) == a_history
    assert runtime().stored_lists.get_list(a.tenant_id, user, "hybrid")["job_id"] == a_batch

    # Decisioning: A's rules, policies, flows, routing and experiments are out of B's reach.
    policy_body = {"name": "p", "kind": "daily_max", "max_impressions": 3}
    rule = api("POST", "/v1/decisioning/rules", caller=a, body={"name": "r"})[2]["rule_id"]
    policy = api("POST", "/v1/decisioning/policies", caller=a, body=policy_body)[2]["policy_id"]
    assert api("POST", "/v1/decisioning/flows", caller=a, body={"key": "f", "name": "f", "rule_ids": [rule]})[0] == 201
    assert api("PUT", "/v1/decisioning/routing", caller=a, body={"routes": [{"flow_key": "f"}]})[0] == 200
    split = {"name": "e", "variants": {"x": {"weight": 1}, "y": {"weight": 1, "flow_key": "f"}}}
    experiment = api("POST", "/v1/experiments", caller=a, body=split)[2]["experiment_id"]
    for base, value, body in (("/v1/decisioning/rules", rule, {"name": "b"}),
                              ("/v1/decisioning/policies", policy, policy_body),
                              ("/v1/decisioning/flows", "f", {"name": "b"}),
                              ("/v1/experiments", experiment, {**split, "variants": {"x": {"weight": 1},
                                                                                      "z": {"weight": 1}}})):
        param = DECISIONING[base]
        assert list(b_calls("GET", base)[2].values()) == [[]]
        for method, extra in (("GET", {}), ("PUT", {"body": body}), ("DELETE", {})):
            status, _, _ = b_calls(method, f"{base}/{{{param}}}", path_params={param: value}, **extra)
            assert status == 404, (method, base, status)
        assert api("GET", f"{base}/{{{param}}}", caller=a, path_params={param: value})[0] == 200
    assert b_calls("POST", "/v1/decisioning/rules", body={"name": "B's own"})[0] == 201
    assert b_calls("POST", "/v1/decisioning/policies", body=policy_body)[0] == 201
    assert b_calls("POST", "/v1/decisioning/flows", body={"key": "g", "name": "g", "rule_ids": [rule]})[0] == 409
    assert b_calls("POST", "/v1/experiments", body=split)[0] == 409  # A's flow is unknown to B
    assert b_calls("GET", "/v1/decisioning/routing")[2] == {"routes": []}
    assert b_calls("PUT", "/v1/decisioning/routing", body={"routes": [{"flow_key": "f"}]})[0] == 409
    assert api("GET", "/v1/decisioning/routing", caller=a)[2] == {"routes": [{"flow_key": "f"}]}

    # Public routes carry no tenant data.
    seen.add(("GET", "/health"))
    assert set(api("GET", "/health")[2]) == {"status", "version"}
    seen.add(("GET", "/v1/billing/plans"))
    assert b.tenant_id not in json.dumps(api("GET", "/v1/billing/plans")[2])
    assert a.tenant_id not in json.dumps(api("GET", "/v1/billing/plans")[2])
    seen.add(("GET", "/api/billing/plans"))
    assert a.tenant_id not in json.dumps(api("GET", "/api/billing/plans")[2])
    assert b.tenant_id not in json.dumps(api("GET", "/api/billing/plans")[2])

    a_usage_after = api("GET", "/v1/billing/usage", caller=a)[2]
    assert a_usage_after == a_usage_before
    assert seen == COVERED
