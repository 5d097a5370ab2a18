"""Billing in the RecommendAI wire format (/api/billing/*): the same services as /v1 through the seed
presenter (camelCase, bare arrays, `plan-<id>` ids), and /v1/billing/* unchanged beside it."""

from __future__ import annotations

from recengine.billing import payments
from recengine.billing.plans import PLANS
from recengine.runtime import runtime
from tests.integration.conftest import set_requests

SEED_USAGE_FIELDS = {"requestsUsed", "requestLimit", "percentUsed", "overageUnits", "overageAmount",
                     "overageBudgetCap", "budgetExceeded", "itemsUsed", "itemsLimit", "usersUsed", "usersLimit",
                     "lastRequestAt"}


def test_plans_are_a_public_bare_array_with_the_seed_ids_and_fields(aws, api):
    status, _, body = api("GET", "/api/billing/plans", caller=None)
    assert status == 200 and isinstance(body, list)
    assert [p["id"] for p in body] == ["plan-starter", "plan-growth", "plan-enterprise"]
    growth = body[1]
    assert growth["name"] == "Growth" and growth["monthlyPrice"] == PLANS["growth"].monthly_price
    assert growth["annualPrice"] == PLANS["growth"].annual_price
    assert (growth["requestLimit"], growth["itemLimit"], growth["userLimit"]) == (100_000, 10_000, 5_000)
    assert not any("_" in key for key in growth)


def test_v1_plans_are_unchanged(aws, api):
    status, _, body = api("GET", "/v1/billing/plans", caller=None)
    assert status == 200 and [p["id"] for p in body["plans"]] == ["starter", "growth", "enterprise"]
    assert "monthly_price" in body["plans"][0]


def test_current_is_the_subscription_in_camel_case(aws, api, billing_clock):
    caller = aws.tenant("acme", plan="starter")
    status, _, body = api("GET", "/api/billing/current", caller=caller)
    assert status == 200 and body["tenantId"] == caller.tenant_id and body["status"] == "active"
    assert body["plan"]["id"] == "plan-starter" and body["plan"]["monthlyPrice"] == 49
    assert body["period"]["start"] == "2026-03-01T00:00:00Z"


def test_usage_has_the_seed_fields_with_the_same_numbers_as_v1(aws, api, billing_clock):
    caller = aws.tenant("acme", plan="growth")
    set_requests(caller.tenant_id, "2026-03", 45_000)
    status, _, seed = api("GET", "/api/billing/usage", caller=caller)
    assert status == 200 and SEED_USAGE_FIELDS <= set(seed)
    _, _, canonical = api("GET", "/v1/billing/usage", caller=caller)
    assert seed["requestsUsed"] == canonical["requests_used"] == 45_000
    assert seed["percentUsed"] == 45.0 and seed["requestLimit"] == 100_000 and seed["budgetExceeded"] is False
    assert seed["overageBudgetCap"] == canonical["overage_budget_cap"] and seed["plan"] == "plan-growth"


def test_overage_cap_takes_cap_amount_and_answers_the_usage(aws, api, billing_clock):
    caller = aws.tenant("acme", plan="growth")
    status, _, body = api("PUT", "/api/billing/overage-cap", caller=caller, body={"capAmount": 250.0})
    assert status == 200 and body["overageBudgetCap"] == 250.0 and body["overageCapSource"] == "tenant"
    status, _, body = api("PUT", "/api/billing/overage-cap", caller=caller, body={"cap_amount": 200.0})
    assert status == 200 and body["overageBudgetCap"] == 200.0  # the canonical name is accepted too
    status, _, problem = api("PUT", "/api/billing/overage-cap", caller=caller, body={"capAmount": -1})
    assert status == 422
    status, _, body = api("PUT", "/v1/billing/overage-cap", caller=caller, body={"cap_amount": 100.0})
    assert status == 200 and body["overage_budget_cap"] == 100.0


def test_invoices_are_a_bare_array(aws, api, billing_clock):
    caller = aws.tenant("acme", plan="starter")
    set_requests(caller.tenant_id, "2026-02", 12_000)
    status, _, body = api("GET", "/api/billing/invoices", caller=caller)
    assert status == 200 and isinstance(body, list) and body[0]["invoiceId"] == f"inv-{caller.tenant_id}-2026-02"
    assert body[0]["plan"] == "plan-starter" and body[0]["overageUnits"] == 2
    _, _, canonical = api("GET", "/v1/billing/invoices", caller=caller)
    assert canonical["invoices"][0]["invoice_id"] == body[0]["invoiceId"]


def test_checkout_and_portal_answer_501_without_a_provider(aws, api):
    caller = aws.tenant()
    for method, path, body in (("POST", "/api/billing/checkout", {"planId": "plan-growth", "interval": "monthly"}),
                               ("POST", "/api/billing/portal", None), ("POST", "/v1/billing/portal", None)):
        status, _, problem = api(method, path, caller=caller, body=body)
        assert status == 501 and problem["type"] == "/problems/payment-provider-not-configured", path
        assert "no payment provider is configured" in problem["detail"] and "retry" not in problem["detail"]


def test_checkout_accepts_both_plan_ids_and_answers_checkout_url(aws, api, monkeypatch):
    caller = aws.tenant()
    provider = payments.InMemoryPaymentProvider()
    monkeypatch.setattr(runtime(), "payments", provider)
    for plan_id in ("plan-growth", "growth"):
        status, _, body = api("POST", "/api/billing/checkout", caller=caller,
                              body={"planId": plan_id, "interval": "annual"})
        assert status == 200 and body["checkoutUrl"].startswith("memory://checkout/"), body
        assert body["planId"] == "plan-growth" and body["amount"] == PLANS["growth"].annual_price
        assert provider.sessions[body["sessionId"]][0] == caller.tenant_id
    status, _, problem = api("POST", "/api/billing/checkout", caller=caller, body={"planId": "plan-platinum"})
    assert status == 422
    status, _, body = api("POST", "/v1/billing/checkout", caller=caller, body={"plan_id": "plan-growth"})
    assert status == 200 and body["plan_id"] == "growth"


def test_portal_answers_portal_url(aws, api, monkeypatch):
    caller = aws.tenant()
    monkeypatch.setattr(runtime(), "payments", payments.InMemoryPaymentProvider())
    status, _, body = api("POST", "/api/billing/portal", caller=caller)
    assert status == 200 and body == {"portalUrl": f"memory://portal/{caller.tenant_id}"}
    status, _, body = api("POST", "/v1/billing/portal", caller=caller)
    assert status == 200 and body == {"portal_url": f"memory://portal/{caller.tenant_id}"}


def test_every_billing_answer_is_what_the_openapi_document_publishes(aws, api, billing_clock, monkeypatch):
    """Each billing route's body validates against the response model OPERATIONS publishes for it,
    in both wire formats (the fuzzer checks the same against the running stack)."""
    from tests.conftest import load_script

    operations = load_script("openapi").OPERATIONS
    caller = aws.tenant("acme", plan="growth")
    set_requests(caller.tenant_id, "2026-02", 12_000)
    monkeypatch.setattr(runtime(), "payments", payments.InMemoryPaymentProvider())
    bodies = {"/overage-cap": {"capAmount": 75.0}, "/checkout": {"planId": "plan-growth", "interval": "annual"}}
    routes = [key for key in operations if "/billing/" in key[1]]
    assert len(routes) == 14
    for method, path in routes:
        body = next((b for suffix, b in bodies.items() if path.endswith(suffix)), None)
        status, _, answer = api(method, path, caller=caller, body=body)
        (model,) = operations[(method, path)].response
        assert status == 200, (path, answer)
        model.model_validate(answer)
