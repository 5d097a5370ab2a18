"""Checkout and the customer portal on Stripe, through the billing handlers: the real `stripe` SDK
(form encoding, idempotency keys, retries, error classes) against the local Stripe stand-in, the key
read from (moto's) Secrets Manager. Only loopback connections are allowed."""

from __future__ import annotations

import re

import boto3
import pytest

from local.stripe_standin import StripeStandIn
from recengine.billing.customers import billing_key
from recengine.billing.plans import PLANS
from recengine.runtime import runtime

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])

RETURN_URL = "https://app.example.com/billing"
CHECKOUT = "/v1/checkout/sessions"


@pytest.fixture
def standin():
    server = StripeStandIn().start()
    yield server
    server.stop()


@pytest.fixture
def stripe_on(aws, configure, standin) -> StripeStandIn:
    """A deployment with StripeSecretArn set: the key in Secrets Manager, the SDK pointed at the stand-in."""
    arn = boto3.client("secretsmanager").create_secret(Name="test/stripe-key", SecretString=standin.api_key)["ARN"]
    configure(STRIPE_SECRET_ID=arn, BILLING_RETURN_URL=RETURN_URL, STRIPE_API_BASE=standin.url)
    return standin


def checkout(api, caller, path="/v1/billing/checkout", plan="growth", interval="monthly", request_id=None):
    body = {"planId": f"plan-{plan}"} if path.startswith("/api/") else {"plan_id": plan}
    headers = {"X-Request-Id": request_id} if request_id else None
    return api("POST", path, caller=caller, body={**body, "interval": interval}, headers=headers)


def recorded_customer(tenant_id: str) -> str | None:
    row = runtime().tenants.get_row(billing_key(tenant_id), consistent=True)
    return row["customer_id"] if row else None


# ------------------------------------------------------------------ checkout
def test_checkout_creates_the_tenants_customer_once_and_a_subscription_session(aws, api, stripe_on):
    caller = aws.tenant("acme")
    status, _, body = checkout(api, caller, interval="annual", request_id="retry-me-1")
    assert status == 200, body
    assert body["checkout_url"].startswith("https://checkout.stripe.com/c/pay/cs_test_")
    assert body["amount"] == PLANS["growth"].annual_price and body["currency"] == "USD"

    (created,) = stripe_on.calls_to("POST", "/v1/customers")
    assert created.headers["idempotency-key"] == f"recengine-customer-{caller.tenant_id}"
    assert created.params["metadata[tenant_id]"] == caller.tenant_id
    assert created.headers["content-type"].startswith("application/x-www-form-urlencoded")
    (customer,) = stripe_on.customers
    assert recorded_customer(caller.tenant_id) == customer

    (session,) = stripe_on.calls_to("POST", CHECKOUT)
    assert session.params["mode"] == "subscription" and session.params["customer"] == customer
    assert session.params["line_items[0][price]"] == "price_growth_annual"
    assert session.params["line_items[0][quantity]"] == "1"
    assert session.params["client_reference_id"] == caller.tenant_id
    assert session.params["metadata[plan]"] == "growth" and session.params["metadata[interval]"] == "annual"
    assert session.params["success_url"].startswith(RETURN_URL + "?checkout=success")
    assert session.params["cancel_url"] == RETURN_URL + "?checkout=cancelled"
    assert session.headers["idempotency-key"].endswith("-growth-annual-retry-me-1")
    (lookup,) = stripe_on.calls_to("GET", "/v1/prices")
    assert lookup.params["lookup_keys[0]"] == "recengine_growth_annual" and lookup.params["active"] == "true"


def test_a_retried_checkout_gets_the_same_session_and_a_new_one_reuses_the_customer(aws, api, stripe_on):
    caller = aws.tenant("acme")
    first = checkout(api, caller, request_id="req-a")[2]
    again = checkout(api, caller, request_id="req-a")[2]  # the client retries the same request
    other = checkout(api, caller, plan="enterprise", request_id="req-b")[2]
    assert again["session_id"] == first["session_id"] and other["session_id"] != first["session_id"]
    assert len(stripe_on.customers) == 1 and len(stripe_on.calls_to("POST", "/v1/customers")) == 1
    assert len(stripe_on.sessions) == 2
    assert {s["customer"] for s in stripe_on.sessions.values()} == set(stripe_on.customers)


def test_a_customer_created_but_not_recorded_is_found_again_by_its_idempotency_key(aws, api, stripe_on):
    """The customer was created at Stripe but its row was lost (the write failed, or the invocation
    died after the call): the next checkout sends the same key, and Stripe answers the same customer."""
    caller = aws.tenant("acme")
    assert checkout(api, caller)[0] == 200
    runtime().tenants.db.delete_item(TableName=runtime().tenants.name,
                                     Key={"pk": {"S": billing_key(caller.tenant_id)["pk"]}})
    assert checkout(api, caller)[0] == 200
    calls = stripe_on.calls_to("POST", "/v1/customers")
    assert len(calls) == 2 and calls[0].headers["idempotency-key"] == calls[1].headers["idempotency-key"]
    assert len(stripe_on.customers) == 1 and recorded_customer(caller.tenant_id) in stripe_on.customers


def test_the_sdk_retries_a_stripe_5xx_under_the_same_idempotency_key(aws, api, stripe_on):
    caller = aws.tenant("acme")
    stripe_on.fail(500, path="/v1/customers")
    status, _, body = checkout(api, caller)
    assert status == 200, body
    calls = stripe_on.calls_to("POST", "/v1/customers")
    assert len(calls) == 2 and calls[0].headers["idempotency-key"] == calls[1].headers["idempotency-key"]
    assert len(stripe_on.customers) == 1


def test_tenants_get_customers_of_their_own(aws, api, stripe_on):
    a, b = aws.tenant("acme"), aws.tenant("globex")
    assert checkout(api, a)[0] == 200 and checkout(api, b)[0] == 200
    assert recorded_customer(a.tenant_id) != recorded_customer(b.tenant_id)
    owners = {c["metadata"]["tenant_id"] for c in stripe_on.customers.values()}
    assert owners == {a.tenant_id, b.tenant_id}


def test_both_wire_formats_answer_what_the_openapi_document_publishes(aws, api, stripe_on):
    from recengine.billing.responses import CheckoutView, PortalView, SeedCheckout, SeedPortal

    caller = aws.tenant("acme")
    status, _, body = checkout(api, caller, path="/api/billing/checkout", plan="starter")
    assert status == 200 and body["checkoutUrl"].startswith("https://checkout.stripe.com/")
    assert body["planId"] == "plan-starter"
    SeedCheckout.model_validate(body)  # what docs/openapi.json publishes, in both wire formats
    CheckoutView.model_validate(checkout(api, caller)[2])
    SeedPortal.model_validate(api("POST", "/api/billing/portal", caller=caller)[2])
    PortalView.model_validate(api("POST", "/v1/billing/portal", caller=caller)[2])


def test_the_key_is_read_once_per_execution_environment(aws, api, stripe_on):
    caller = aws.tenant("acme")
    assert checkout(api, caller)[0] == 200
    boto3.client("secretsmanager").delete_secret(SecretId="test/stripe-key", ForceDeleteWithoutRecovery=True)
    assert checkout(api, caller)[0] == 200  # the key read by the first call is still in use


def test_an_injected_stripe_client_is_used_and_the_secret_is_then_never_read(aws, api, standin, configure):
    import stripe

    configure(STRIPE_SECRET_ID="arn:aws:secretsmanager:us-east-1:123456789012:secret:absent-AbCdEf",
              BILLING_RETURN_URL=RETURN_URL)
    runtime().stripe_client = stripe.StripeClient(standin.api_key, base_addresses={"api": standin.url})
    status, _, body = checkout(api, aws.tenant("acme"))
    assert status == 200 and body["session_id"] in standin.sessions


# ------------------------------------------------------------------ failures
def _assert_safe_502(status, headers, problem, standin):
    assert status == 502, problem
    assert problem["type"] == "/problems/payment-provider-error" and problem["title"] == "Bad Gateway"
    assert standin.api_key not in str(problem) and "injected" not in problem["detail"]
    assert headers["Content-Type"] == "application/problem+json"


def test_a_stripe_5xx_that_outlasts_the_retries_answers_502_with_retry_after(aws, api, stripe_on):
    stripe_on.fail(503, path=CHECKOUT, times=3)
    status, headers, problem = checkout(api, aws.tenant("acme"))
    _assert_safe_502(status, headers, problem, stripe_on)
    assert "checkout session" in problem["detail"] and "HTTP 503" in problem["detail"]
    assert headers["Retry-After"] == "1" and len(stripe_on.calls_to("POST", CHECKOUT)) == 3
    assert stripe_on.sessions == {}


def test_a_stripe_4xx_answers_502_at_once_without_stripes_text(aws, api, stripe_on):
    stripe_on.fail(400, "invalid_request_error", path=CHECKOUT)
    status, headers, problem = checkout(api, aws.tenant("acme"))
    _assert_safe_502(status, headers, problem, stripe_on)
    assert "InvalidRequestError" in problem["detail"] and "Retry-After" not in headers
    assert re.search(r"; Stripe request req_[0-9a-f]+$", problem["detail"])  # for the operator's support ticket
    assert len(stripe_on.calls_to("POST", CHECKOUT)) == 1  # a refusal is not retried


def test_a_key_stripe_refuses_answers_502_and_never_shows_the_key(aws, api, stripe_on):
    stripe_on.api_key = "sk_test_another_key_0123456789"  # the secret holds a revoked key
    status, headers, problem = checkout(api, aws.tenant("acme"))
    _assert_safe_502(status, headers, problem, stripe_on)
    assert "AuthenticationError" in problem["detail"] and "sk_test" not in problem["detail"]


def test_a_stripe_price_that_differs_from_the_plan_is_refused(aws, api, stripe_on):
    stripe_on.prices["price_growth_monthly"]["unit_amount"] = 100  # $1 instead of the advertised price
    status, headers, problem = checkout(api, aws.tenant("acme"))
    _assert_safe_502(status, headers, problem, stripe_on)
    assert "recengine_growth_monthly" in problem["detail"] and stripe_on.sessions == {}


def test_a_plan_without_a_stripe_price_is_refused(aws, api, stripe_on):
    del stripe_on.prices["price_enterprise_annual"]
    status, headers, problem = checkout(api, aws.tenant("acme"), plan="enterprise", interval="annual")
    _assert_safe_502(status, headers, problem, stripe_on)
    assert "no active price" in problem["detail"]


# ------------------------------------------------------------------ portal
def test_the_portal_opens_for_the_tenants_customer(aws, api, stripe_on):
    caller = aws.tenant("acme")
    assert checkout(api, caller)[0] == 200
    status, _, body = api("POST", "/api/billing/portal", caller=caller)
    assert status == 200 and body["portalUrl"].startswith("https://billing.stripe.com/p/session/")
    status, _, body = api("POST", "/v1/billing/portal", caller=caller)
    assert status == 200 and body["portal_url"].startswith("https://billing.stripe.com/p/session/")
    calls = stripe_on.calls_to("POST", "/v1/billing_portal/sessions")
    assert [c.params for c in calls] == [{"customer": recorded_customer(caller.tenant_id),
                                          "return_url": RETURN_URL}] * 2


def test_the_portal_before_any_checkout_answers_409(aws, api, stripe_on):
    for path in ("/v1/billing/portal", "/api/billing/portal"):
        status, _, problem = api("POST", path, caller=aws.tenant("acme"))
        assert status == 409 and problem["type"] == "/problems/no-payment-customer", problem
    assert stripe_on.calls == []  # nothing was asked of Stripe (and no customer made on the way)


def test_a_stripe_failure_of_the_portal_answers_502(aws, api, stripe_on):
    caller = aws.tenant("acme")
    assert checkout(api, caller)[0] == 200
    stripe_on.fail(500, path="/v1/billing_portal/sessions", should_retry=False)
    status, headers, problem = api("POST", "/api/billing/portal", caller=caller)
    _assert_safe_502(status, headers, problem, stripe_on)
    assert len(stripe_on.calls_to("POST", "/v1/billing_portal/sessions")) == 1  # Stripe said: do not retry


# ------------------------------------------------------------------ not configured
def test_without_the_secret_checkout_and_portal_answer_501_and_stripe_is_not_called(aws, api, standin, configure):
    configure(STRIPE_SECRET_ID=None, STRIPE_API_BASE=standin.url)
    caller = aws.tenant("acme")
    for path in ("/v1/billing/checkout", "/api/billing/checkout"):
        status, _, problem = checkout(api, caller, path=path)
        assert status == 501 and problem["type"] == "/problems/payment-provider-not-configured"
        assert "StripeSecretArn" in problem["detail"] and "retry" not in problem["detail"]
    for path in ("/v1/billing/portal", "/api/billing/portal"):
        assert api("POST", path, caller=caller)[0] == 501
    assert standin.calls == []


# ------------------------------------------------------------------ IAM
def test_every_aws_call_of_checkout_and_portal_is_granted_to_billing_by_the_template(aws, api, stripe_on,
                                                                                      monkeypatch):
    """What moto allows, IAM may refuse: each call the Stripe paths make (the key's secret, the billing
    row's reads and conditional write) is checked against BillingFunction's role as template.yaml
    grants it in a deployment that sets StripeSecretArn (the parameter given the secret's ARN)."""
    import copy

    from botocore.client import BaseClient

    from local.iam import Names, allowed, function_statements, names_from_environment, needs, secret_arn
    from local.template import load_template

    calls: list[tuple[str, str, dict]] = []
    original = BaseClient._make_api_call

    def recording(client, operation, params):
        calls.append((client.meta.service_model.service_name, operation, copy.deepcopy(params)))
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    caller = aws.tenant("acme")
    calls.clear()  # the tenant's provisioning is the admin's, not the function's
    assert checkout(api, caller)[0] == 200 and api("POST", "/api/billing/portal", caller=caller)[0] == 200

    template = copy.deepcopy(load_template())
    template["Parameters"]["StripeSecretArn"]["Default"] = secret_arn("StripeKeySecret")
    statements = function_statements("BillingFunction", template)
    found = names_from_environment(aws.env, template)
    names = Names(found.tables, found.buckets, found.queues,
                  {runtime().settings.stripe_secret_id: "StripeKeySecret"}, found.user_pools)
    checked = [(service, operation, need) for service, operation, params in calls
               for need in needs(service, operation, params, names)]
    assert {(s, o) for s, o, _ in checked} >= {("secretsmanager", "GetSecretValue"), ("dynamodb", "PutItem"),
                                               ("dynamodb", "GetItem")}
    refused = [(s, o, n) for s, o, n in checked if not allowed(statements, n)]
    assert refused == []  # (that the grant exists only with HasStripeSecret: tests/unit/test_least_privilege.py)
