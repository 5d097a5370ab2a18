"""The Stripe payment provider, on the official `stripe` SDK (imported on first use: only the billing
function ships it, and only its first checkout or portal call pays for the import).

- One Stripe customer per tenant, created by the tenant's first checkout under the idempotency key
  `recengine-customer-<tenant>` (a retry within Stripe's 24 hours gets the same customer back) and
  recorded in the tenant's billing row (CustomerStore.claim: concurrent first checkouts settle on one).
- Prices are found by Stripe lookup key `recengine_<plan>_<interval>` (`recengine_growth_monthly`,
  `recengine_growth_annual`, ...), so the same code works in test and live mode and a price changes
  in Stripe without a deployment. A found price must match plans.py (amount in cents, currency and
  interval): checkout refuses to charge anything but the advertised price.
- Checkout sessions are subscription-mode, idempotent per tenant, plan, interval and request id.
- Any Stripe failure becomes PaymentProviderError (502) with a detail from the error's class, HTTP
  status, code and Stripe's request id only: Stripe's own message may quote the key (masked or not),
  so it is not passed on.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable, Iterator

from ..errors import NoPaymentCustomerError, PaymentProviderError
from ..settings import SettingsError
from ..tenancy.model import Tenant
from .customers import CustomerStore
from .payments import CheckoutSession
from .plans import CURRENCY, Plan

if TYPE_CHECKING:
    import stripe

PROVIDER = "stripe"
LOOKUP_KEY = "recengine_{plan}_{interval}"
STRIPE_INTERVAL = {"monthly": "month", "annual": "year"}
PRICE_CACHE_S = 300.0  # a price changed in Stripe is picked up within minutes, not per request
KEY_PREFIXES = ("sk_", "rk_")  # a secret key, or (better: least privilege) a restricted key
MIN_KEY_LENGTH = 16
# The SDK's timeout and retries fit inside API Gateway's 29 s: 3 attempts of at most 6 s, plus its backoff.
TIMEOUT_S = 6
MAX_NETWORK_RETRIES = 2


@dataclass(frozen=True)
class StripeConfig:
    return_url: str  # where Stripe sends the customer back from checkout and from the portal
    api_base: str | None = None  # another API base: the local stand-in (local/stripe_standin.py)
    timeout_s: float = TIMEOUT_S
    max_network_retries: int = MAX_NETWORK_RETRIES


@contextmanager
def stripe_call(action: str) -> Iterator[None]:
    """Turns any Stripe error into a PaymentProviderError whose detail carries no Stripe text."""
    import stripe

    try:
        yield
    except stripe.StripeError as exc:
        status = getattr(exc, "http_status", None)
        code = getattr(exc, "code", None)
        said = ", ".join(part for part in (f"HTTP {status}" if status else "no answer", code) if part)
        request = getattr(exc, "request_id", None)  # Stripe's id of the request: what its support asks for
        transient = status is None or status == 429 or status >= 500
        raise PaymentProviderError(f"the payment provider could not {action} ({type(exc).__name__}: {said})"
                                   + (f"; Stripe request {request}" if request else ""),
                                   retry_after_s=1 if transient else None) from None


class StripeProvider:
    """PaymentProvider on a StripeClient built on first use from `api_key()` (read from Secrets
    Manager by the runtime, once per execution environment), or on the client injected."""

    def __init__(self, api_key: Callable[[], str], customers: CustomerStore, config: StripeConfig,
                 client: "stripe.StripeClient | None" = None):
        self._api_key = api_key
        self._client = client
        self.customers = customers
        self.config = config
        self._prices: dict[str, tuple[float, str]] = {}  # lookup key -> (when found, price id)
        self._lock = threading.Lock()

    @cached_property
    def client(self) -> "stripe.StripeClient":
        if self._client is not None:
            return self._client
        import stripe

        key = self._api_key()
        if not key.startswith(KEY_PREFIXES):
            raise SettingsError("the Stripe key secret holds no Stripe secret (sk_) or restricted (rk_) key")
        bases = {"api": self.config.api_base} if self.config.api_base else None
        return stripe.StripeClient(key, base_addresses=bases,  # type: ignore[arg-type]
                                   http_client=stripe.RequestsClient(timeout=self.config.timeout_s),
                                   max_network_retries=self.config.max_network_retries)

    # ------------------------------------------------------------------ PaymentProvider
    def create_checkout(self, tenant: Tenant, plan: Plan, interval: str, amount: float,
                        idempotency_key: str | None = None) -> CheckoutSession:
        price = self.price_id(plan, interval, amount)
        customer = self.customer_for(tenant)
        metadata = {"tenant_id": tenant.tenant_id, "plan": plan.id, "interval": interval}
        params: dict[str, Any] = {
            "mode": "subscription", "customer": customer, "client_reference_id": tenant.tenant_id,
            "line_items": [{"price": price, "quantity": 1}], "metadata": metadata,
            "subscription_data": {"metadata": metadata},
            "success_url": _with_query(self.config.return_url, "checkout=success&session_id={CHECKOUT_SESSION_ID}"),
            "cancel_url": _with_query(self.config.return_url, "checkout=cancelled"),
        }
        options: dict[str, Any] = {}
        if idempotency_key:
            options["idempotency_key"] = f"recengine-checkout-{tenant.tenant_id}-{plan.id}-{interval}-{idempotency_key}"
        with stripe_call("create the checkout session"):
            session = self.client.v1.checkout.sessions.create(params=params, options=options)  # type: ignore[arg-type]
        if not session.url:
            raise PaymentProviderError("the payment provider answered a checkout session without a URL")
        return CheckoutSession(session.id, session.url, plan.id, interval, amount)

    def create_portal(self, tenant: Tenant) -> str:
        customer = self.customers.customer_id(tenant.tenant_id)
        if customer is None:
            raise NoPaymentCustomerError("the tenant has no payment customer yet: its first checkout creates one")
        with stripe_call("create the billing portal session"):
            session = self.client.v1.billing_portal.sessions.create(
                params={"customer": customer, "return_url": self.config.return_url})
        return session.url

    # ------------------------------------------------------------------ parts
    def customer_for(self, tenant: Tenant) -> str:
        """The tenant's Stripe customer: the recorded one, else one created (idempotently) and recorded."""
        known = self.customers.customer_id(tenant.tenant_id)
        if known is not None:
            return known
        with stripe_call("create the customer"):
            customer = self.client.v1.customers.create(
                params={"name": tenant.name, "metadata": {"tenant_id": tenant.tenant_id}},
                options={"idempotency_key": f"recengine-customer-{tenant.tenant_id}"})
        return self.customers.claim(tenant.tenant_id, customer.id, PROVIDER)

    def price_id(self, plan: Plan, interval: str, amount: float) -> str:
        """The active price with the plan's lookup key, checked against plans.py; cached a few minutes."""
        key = LOOKUP_KEY.format(plan=plan.id, interval=interval)
        with self._lock:
            found = self._prices.get(key)
        if found and time.monotonic() - found[0] < PRICE_CACHE_S:
            return found[1]
        with stripe_call("look up the plan's price"):
            prices = self.client.v1.prices.list(params={"lookup_keys": [key], "active": True, "limit": 1})
        if not prices.data:
            raise PaymentProviderError(f"the payment provider has no active price with lookup key {key!r}")
        price = prices.data[0]
        recurring = getattr(price, "recurring", None)
        if (price.unit_amount != round(amount * 100) or (price.currency or "").lower() != CURRENCY.lower()
                or recurring is None or recurring.interval != STRIPE_INTERVAL[interval]):
            raise PaymentProviderError(f"the payment provider's price {key!r} does not match the plan "
                                       f"({amount:g} {CURRENCY} per {STRIPE_INTERVAL[interval]})")
        with self._lock:
            self._prices[key] = (time.monotonic(), price.id)
        return price.id


def _with_query(url: str, query: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query}"
