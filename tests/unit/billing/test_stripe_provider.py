"""The Stripe provider's own rules, without a network: how SDK errors become a safe 502, the key read
only on first use and checked for its kind, one recorded customer per tenant, and the SDK imported by
the billing paths alone (recommend's cold start does not pay for it)."""

from __future__ import annotations

import subprocess
import sys

import boto3
import pytest
import stripe
from moto import mock_aws

from recengine.billing.customers import CustomerStore
from recengine.billing.stripe_provider import StripeConfig, StripeProvider, stripe_call
from recengine.errors import PaymentProviderError
from recengine.settings import SettingsError
from tests.conftest import ROOT

SECRET_TEXT = "sk_live_this-must-never-be-shown"


@pytest.mark.parametrize("error,said,transient", [
    (stripe.InvalidRequestError(SECRET_TEXT, "price", code="resource_missing", http_status=400),
     "InvalidRequestError: HTTP 400, resource_missing", False),
    (stripe.AuthenticationError(f"Invalid API Key provided: {SECRET_TEXT}", http_status=401),
     "AuthenticationError: HTTP 401", False),
    (stripe.RateLimitError(SECRET_TEXT, http_status=429, code="rate_limit"),
     "RateLimitError: HTTP 429, rate_limit", True),
    (stripe.APIError(SECRET_TEXT, http_status=500), "APIError: HTTP 500", True),
    (stripe.APIConnectionError(SECRET_TEXT), "APIConnectionError: no answer", True),
])
def test_a_stripe_error_becomes_a_payment_provider_error_without_stripes_text(error, said, transient):
    with pytest.raises(PaymentProviderError) as raised:
        with stripe_call("create the checkout session"):
            raise error
    assert str(raised.value) == f"the payment provider could not create the checkout session ({said})"
    assert raised.value.retry_after_s == (1 if transient else None)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__  # not chained into logs either


def test_anything_else_is_not_disguised_as_a_provider_error():
    with pytest.raises(KeyError):
        with stripe_call("create the customer"):
            raise KeyError("a bug stays a bug (500)")


def test_the_key_is_read_on_first_use_only_and_must_be_a_secret_or_restricted_key():
    reads: list[str] = []

    def key(value: str):
        return lambda: reads.append(value) or value

    provider = StripeProvider(key("pk_live_a-publishable-key-0000"), CustomerStore("unused"),
                              StripeConfig("https://app.example.com/billing"))
    assert reads == []  # built without reading the secret (the runtime builds it per container)
    with pytest.raises(SettingsError, match="no Stripe secret") as raised:
        provider.client
    assert "pk_live" not in str(raised.value)
    provider = StripeProvider(key("rk_test_a-restricted-key-0000"), CustomerStore("unused"),
                              StripeConfig("https://app.example.com/billing", api_base="http://127.0.0.1:9"))
    assert provider.client is provider.client and reads.count("rk_test_a-restricted-key-0000") == 1


def test_the_first_recorded_customer_of_a_tenant_wins():
    with mock_aws():
        boto3.client("dynamodb").create_table(
            TableName="tenants", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
        store = CustomerStore("tenants", boto3.client("dynamodb"))
        assert store.customer_id("acme") is None
        assert store.claim("acme", "cus_first", "stripe") == "cus_first"
        assert store.claim("acme", "cus_first", "stripe") == "cus_first"  # the same one again: fine
        assert store.claim("acme", "cus_second", "stripe") == "cus_first"  # a concurrent first checkout's
        assert store.customer_id("acme") == "cus_first" and store.customer_id("globex") is None


def test_only_the_billing_paths_import_the_stripe_sdk():
    """Loading recommend's handler, the runtime and the payments module does not import `stripe`:
    only the provider's first call does, in the billing function."""
    script = ("import sys; from local.gateway import load_handler; from local.template import routes\n"
              "route = next(r for r in routes() if r.path == '/v1/recommend')\n"
              "load_handler(route); import recengine.runtime, recengine.billing.payments\n"
              "import recengine.billing.stripe_provider\n"
              "assert 'stripe' not in sys.modules, 'stripe imported'\n")
    env = {"PYTHONPATH": f"{ROOT / 'layers' / 'engine'}:{ROOT}", "PATH": "/usr/bin:/bin",
           "POWERTOOLS_METRICS_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
