"""Billing through the handlers against moto: plans, usage, overage, the 402 cap, plan limits,
invoices for closed periods and checkout."""

from __future__ import annotations

import copy
import json

import pytest

from recengine.billing.plans import PLANS
from recengine.billing import payments as billing
from recengine.runtime import runtime
from tests.conftest import invoke, load_event
from tests.integration.conftest import set_requests

GROWTH = PLANS["growth"]


def recommend(api, caller, user="u1"):
    return api("POST", "/v1/recommend", caller=caller, body={"user_id": user, "limit": 3})


def usage(api, caller) -> dict:
    status, _, body = api("GET", "/v1/billing/usage", caller=caller)
    assert status == 200, body
    return body


def set_cap(api, caller, amount) -> dict:
    status, _, body = api("PUT", "/v1/billing/overage-cap", caller=caller, body={"cap_amount": amount})
    assert status == 200, body
    return body


def smaller_plan(monkeypatch, **limits):
    """The starter plan with some limits lowered, so a test reaches them in a few calls."""
    monkeypatch.setitem(PLANS, "starter", PLANS["starter"].model_copy(update=limits))


# ------------------------------------------------------------------ plans and subscription
def test_the_price_list_is_public_and_comes_from_plans_py(aws, api):
    status, _, body = api("GET", "/v1/billing/plans", caller=None)
    assert status == 200
    assert [p["id"] for p in body["plans"]] == ["starter", "growth", "enterprise"]
    growth = body["plans"][1]
    assert growth["request_limit"] == GROWTH.request_limit and growth["quota_limit"] == GROWTH.quota_limit
    assert growth["overage_unit_price"] == GROWTH.overage_unit_price and growth["currency"] == "USD"
    assert {"item_limit", "user_limit", "monthly_price", "annual_price", "default_overage_cap"} <= set(growth)


def test_current_names_the_plan_and_the_billing_period(aws, api, billing_clock):
    caller = aws.tenant("acme", plan="starter")
    status, _, body = api("GET", "/v1/billing/current", caller=caller)
    assert status == 200 and body["tenant_id"] == caller.tenant_id and body["plan"]["id"] == "starter"
    assert body["period"] == {"id": "2026-03", "start": "2026-03-01T00:00:00Z", "end": "2026-04-01T00:00:00Z"}


def test_billing_routes_other_than_plans_need_a_key(aws, api):
    for method, path, body in (("GET", "/v1/billing/current", None), ("GET", "/v1/billing/usage", None),
                               ("GET", "/v1/billing/invoices", None),
                               ("PUT", "/v1/billing/overage-cap", {"cap_amount": 1}),
                               ("POST", "/v1/billing/checkout", {"plan_id": "growth"})):
        status, _, problem = api(method, path, caller=None, body=body)
        assert status == 401 and problem["type"] == "/problems/unauthorized", path


# ------------------------------------------------------------------ metering
def test_only_answered_recommend_similar_and_interaction_calls_are_metered(aws, api, billing_clock):
    caller = aws.tenant()
    assert api("POST", "/v1/items", caller=caller, body={"items": [{"id": "a"}, {"id": "b"}]})[0] == 200
    for _ in range(3):
        assert recommend(api, caller)[0] == 200
    assert api("POST", "/v1/similar", caller=caller, body={"item_id": "a"})[0] == 200
    events = [{"user_id": u, "item_id": "a", "type": "view"} for u in ("u1", "u2", "u1")]
    assert api("POST", "/v1/interactions", caller=caller, body={"interactions": events})[0] == 201
    # Not metered: catalogue, billing, health, a request refused by validation, a 404 from similar.
    api("GET", "/v1/items", caller=caller, query={})
    api("GET", "/health")
    api("GET", "/v1/billing/current", caller=caller)
    assert api("POST", "/v1/recommend", caller=caller, body={"user_id": "u", "limit": 0})[0] == 422
    assert api("POST", "/v1/similar", caller=caller, body={"item_id": "missing"})[0] == 404

    report = usage(api, caller)
    assert report["requests_used"] == 5 and report["request_limit"] == GROWTH.request_limit
    assert report["percent_used"] == round(100 * 5 / GROWTH.request_limit, 2)
    assert report["overage_units"] == 0 and report["overage_amount"] == 0 and report["budget_exceeded"] is False
    assert report["overage_budget_cap"] == GROWTH.default_overage_cap and report["overage_cap_source"] == "plan-default"
    assert (report["items_used"], report["items_limit"]) == (2, GROWTH.item_limit)
    assert (report["users_used"], report["users_limit"]) == (2, GROWTH.user_limit)
    assert report["last_request_at"] == "2026-03-15T12:00:00Z" and report["period"] == "2026-03"
    assert report["estimated_total"] == GROWTH.monthly_price


def test_calls_past_the_included_requests_continue_as_overage(aws, api, billing_clock):
    caller = aws.tenant()
    set_requests(caller.tenant_id, "2026-03", GROWTH.request_limit)
    assert recommend(api, caller)[0] == 200
    report = usage(api, caller)
    assert report["requests_used"] == GROWTH.request_limit + 1 and report["overage_requests"] == 1
    # Each started block of 1,000 requests past the included ones is one unit.
    assert report["overage_units"] == 1 and report["overage_amount"] == GROWTH.overage_unit_price
    assert report["estimated_total"] == GROWTH.monthly_price + GROWTH.overage_unit_price
    assert report["percent_used"] >= 100 and report["budget_exceeded"] is False


def test_the_call_that_would_pass_the_overage_cap_gets_402_and_is_not_counted(aws, api, billing_clock):
    caller = aws.tenant()
    report = set_cap(api, caller, 4.0)  # 2 units of 1,000 requests at 2.0
    assert report["max_requests"] == GROWTH.request_limit + 2_000 and report["overage_cap_source"] == "tenant"
    set_requests(caller.tenant_id, "2026-03", GROWTH.request_limit + 1_999)
    assert recommend(api, caller)[0] == 200  # the last request the cap allows
    status, headers, problem = recommend(api, caller)
    assert status == 402 and headers["Content-Type"] == "application/problem+json"
    assert problem["type"] == "/problems/payment-required" and problem["title"] == "Payment Required"
    assert "overage-cap" in problem["detail"]
    assert api("POST", "/v1/similar", caller=caller, body={"item_id": "x"})[0] == 402
    assert api("POST", "/v1/interactions", caller=caller,
               body={"user_id": "u", "item_id": "x", "type": "view"})[0] == 402
    report = usage(api, caller)
    assert report["requests_used"] == GROWTH.request_limit + 2_000 and report["budget_exceeded"] is True
    assert report["overage_amount"] == 4.0
    assert runtime().interactions.recent_for_user(caller.tenant_id, "u", 5) == []  # the refused call wrote nothing
    # Unmetered routes keep working.
    assert api("POST", "/v1/items", caller=caller, body={"items": [{"id": "x"}]})[0] == 200


def test_raising_the_cap_lifts_the_402(aws, api, billing_clock):
    caller = aws.tenant()
    set_cap(api, caller, 0)  # no overage at all
    set_requests(caller.tenant_id, "2026-03", GROWTH.request_limit)
    assert recommend(api, caller)[0] == 402
    assert set_cap(api, caller, 2.0)["budget_exceeded"] is False
    assert recommend(api, caller)[0] == 200
    assert usage(api, caller)["requests_used"] == GROWTH.request_limit + 1


def test_lowering_the_cap_below_the_spent_overage_stops_calls(aws, api, billing_clock):
    caller = aws.tenant()
    set_requests(caller.tenant_id, "2026-03", GROWTH.request_limit + 5_000)
    assert recommend(api, caller)[0] == 200
    report = set_cap(api, caller, 3.0)
    assert report["budget_exceeded"] is True and report["overage_amount"] == 3.0  # never billed above the cap
    assert recommend(api, caller)[0] == 402


def test_a_new_period_starts_at_zero_with_the_plan_default_cap(aws, api, billing_clock):
    caller = aws.tenant()
    set_cap(api, caller, 0)
    set_requests(caller.tenant_id, "2026-03", GROWTH.request_limit)
    assert recommend(api, caller)[0] == 402
    billing_clock.set_month(2026, 4, day=1)
    assert recommend(api, caller)[0] == 200
    report = usage(api, caller)
    assert report["period"] == "2026-04" and report["requests_used"] == 1
    assert report["overage_cap_source"] == "plan-default"


@pytest.mark.parametrize("body", [{"cap_amount": -1}, {"cap_amount": "lots"}, {"cap_amount": 1e12}, {"cap": 5}])
def test_a_bad_overage_cap_is_422(aws, api, body):
    status, _, problem = api("PUT", "/v1/billing/overage-cap", caller=aws.tenant(), body=body)
    assert status == 422 and problem["type"] == "/problems/validation-error"


# ------------------------------------------------------------------ plan limits
def test_items_past_the_plan_limit_get_402_and_nothing_is_written(aws, api, monkeypatch):
    smaller_plan(monkeypatch, item_limit=5)
    caller = aws.tenant("small", plan="starter")
    status, _, body = api("POST", "/v1/items", caller=caller, body={"items": [{"id": f"i{n}"} for n in range(3)]})
    assert status == 200 and body["created"] == 3
    status, _, problem = api("POST", "/v1/items", caller=caller,
                             body={"items": [{"id": f"i{n}"} for n in range(3, 6)]})
    assert status == 402 and problem["type"] == "/problems/payment-required" and "5 items" in problem["detail"]
    assert api("GET", "/v1/items/{item_id}", caller=caller, path_params={"item_id": "i3"})[0] == 404
    # Updates are free, and new items fit up to the limit.
    status, _, body = api("POST", "/v1/items", caller=caller,
                          body={"items": [{"id": "i0", "title": "renamed"}, {"id": "i3"}, {"id": "i4"}]})
    assert status == 200 and (body["created"], body["updated"]) == (2, 1)
    assert api("POST", "/v1/items", caller=caller, body={"items": [{"id": "i5"}]})[0] == 402
    assert usage(api, caller)["items_used"] == 5


def test_new_users_past_the_plan_limit_get_402_and_the_call_is_not_billed(aws, api, monkeypatch, billing_clock):
    smaller_plan(monkeypatch, user_limit=3)
    caller = aws.tenant("small", plan="starter")

    def send(*users):
        return api("POST", "/v1/interactions", caller=caller,
                   body={"interactions": [{"user_id": u, "item_id": "a", "type": "view"} for u in users]})

    assert send("u1", "u2")[0] == 201
    assert send("u1", "u3")[0] == 201  # u1 is not new
    status, _, problem = send("u2", "u4")
    assert status == 402 and "3 users" in problem["detail"]
    assert runtime().interactions.recent_for_user(caller.tenant_id, "u4", 5) == []
    assert len(runtime().interactions.recent_for_user(caller.tenant_id, "u2", 5)) == 1  # the batch is all or nothing
    assert api("POST", "/v1/interactions", caller=caller,
               body={"session_id": "s", "item_id": "a", "type": "view"})[0] == 201  # sessions are not users
    report = usage(api, caller)
    assert report["users_used"] == 3 and report["requests_used"] == 3


# ------------------------------------------------------------------ invoices
def test_one_invoice_per_closed_period_computed_from_the_counters(aws, api, billing_clock):
    caller = aws.tenant()
    billing_clock.set_month(2026, 1)
    assert recommend(api, caller)[0] == 200
    set_requests(caller.tenant_id, "2026-01", GROWTH.request_limit + 1_500)  # 2 started blocks
    billing_clock.set_month(2026, 2)
    set_cap(api, caller, 20.0)
    assert recommend(api, caller)[0] == 200
    set_requests(caller.tenant_id, "2026-02", GROWTH.request_limit + 50_000)  # 50 units = 100.0, capped at 20.0
    billing_clock.set_month(2026, 3)
    assert recommend(api, caller)[0] == 200  # the open period has no invoice yet

    status, _, body = api("GET", "/v1/billing/invoices", caller=caller)
    assert status == 200
    feb, jan = body["invoices"]
    assert jan["period"] == "2026-01" and jan["plan"] == "growth" and jan["status"] == "closed"
    assert jan["requests"] == GROWTH.request_limit + 1_500 and jan["overage_units"] == 2
    assert jan["overage_amount"] == 2 * GROWTH.overage_unit_price
    assert jan["total"] == GROWTH.monthly_price + 2 * GROWTH.overage_unit_price
    assert feb["period"] == "2026-02" and feb["overage_units"] == 50 and feb["overage_budget_cap"] == 20.0
    assert feb["overage_amount"] == 20.0 and feb["total"] == GROWTH.monthly_price + 20.0
    assert jan["invoice_id"] != feb["invoice_id"]


def test_no_invoice_before_a_period_closes(aws, api, billing_clock):
    caller = aws.tenant()
    recommend(api, caller)
    assert api("GET", "/v1/billing/invoices", caller=caller)[2] == {"invoices": []}


# ------------------------------------------------------------------ checkout
def test_checkout_answers_501_while_no_payment_provider_is_configured(aws, api):
    status, _, problem = api("POST", "/v1/billing/checkout", caller=aws.tenant(), body={"plan_id": "enterprise"})
    assert status == 501 and problem["type"] == "/problems/payment-provider-not-configured"


def test_checkout_goes_through_the_configured_provider(aws, api, monkeypatch):
    caller = aws.tenant()
    provider = billing.InMemoryPaymentProvider()
    monkeypatch.setattr(runtime(), "payments", provider)
    status, _, body = api("POST", "/v1/billing/checkout", caller=caller, body={"plan_id": "enterprise",
                                                                               "interval": "annual"})
    assert status == 200 and body["checkout_url"].startswith("memory://checkout/")
    assert body["amount"] == PLANS["enterprise"].annual_price and body["plan_id"] == "enterprise"
    assert provider.sessions[body["session_id"]][0] == caller.tenant_id
    status, _, problem = api("POST", "/v1/billing/checkout", caller=caller, body={"plan_id": "platinum"})
    assert status == 422 and problem["errors"][0]["field"] == "plan_id"


# ------------------------------------------------------------------ events/
@pytest.mark.parametrize("name,method,path", [
    ("billing_current", "GET", "/v1/billing/current"), ("billing_usage", "GET", "/v1/billing/usage"),
    ("billing_overage_cap", "PUT", "/v1/billing/overage-cap"), ("billing_invoices", "GET", "/v1/billing/invoices"),
    ("billing_checkout", "POST", "/v1/billing/checkout"), ("billing_plans", "GET", "/v1/billing/plans")])
def test_every_billing_sample_event_is_answered_by_its_handler(aws, monkeypatch, name, method, path):
    caller = aws.tenant()
    monkeypatch.setattr(runtime(), "payments", billing.InMemoryPaymentProvider())
    event = copy.deepcopy(load_event(name))
    if event["requestContext"]["identity"]["apiKeyId"]:
        event["requestContext"]["identity"]["apiKeyId"] = caller.api_key_id
    status, headers, body = invoke(method, path, event)
    assert status == 200, json.dumps(body)
    assert headers.get("X-Request-Id")
