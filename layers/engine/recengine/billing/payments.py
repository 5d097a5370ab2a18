"""Checkout and the customer portal through a payment provider: Stripe (billing/stripe_provider.py)
when the deployment names its key's secret, else none and both answer 501. Tests of the routes
around it use InMemoryPaymentProvider; nothing fakes a successful payment."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Protocol

from ..errors import PaymentProviderUnavailableError
from ..tenancy.model import Tenant
from .plans import CURRENCY, PLANS, Plan

NOT_CONFIGURED = ("no payment provider is configured for this deployment (its operator sets the template's "
                  "StripeSecretArn to offer checkout)")


@dataclass(frozen=True)
class CheckoutSession:
    session_id: str
    url: str
    plan_id: str
    interval: str
    amount: float
    currency: str = CURRENCY


class PaymentProvider(Protocol):
    """A hosted checkout and customer portal (Stripe in production)."""

    def create_checkout(self, tenant: Tenant, plan: Plan, interval: str, amount: float,
                        idempotency_key: str | None = None) -> CheckoutSession:
        """A hosted page where the tenant subscribes to `plan`; the same idempotency key (the
        request's id) gives the same session, so a retried request does not open a second one."""
        ...

    def create_portal(self, tenant: Tenant) -> str:
        """The URL of a hosted page where the tenant manages its subscription and payment methods."""
        ...


@dataclass
class InMemoryPaymentProvider:
    """Records sessions in memory; for tests and the local stack only, never a real payment."""

    sessions: dict[str, tuple[str, CheckoutSession]] = field(default_factory=dict)

    def create_checkout(self, tenant: Tenant, plan: Plan, interval: str, amount: float,
                        idempotency_key: str | None = None) -> CheckoutSession:
        session_id = f"cs_test_{uuid.uuid4().hex[:16]}"
        session = CheckoutSession(session_id, f"memory://checkout/{session_id}", plan.id, interval, amount)
        self.sessions[session_id] = (tenant.tenant_id, session)
        return session

    def create_portal(self, tenant: Tenant) -> str:
        return f"memory://portal/{tenant.tenant_id}"


def checkout(provider: PaymentProvider | None, tenant: Tenant, plan_id: str, interval: str,
             request_id: str | None = None) -> dict:
    """A checkout session for the plan and interval (`request_id` makes a retried request idempotent)."""
    if provider is None:
        raise PaymentProviderUnavailableError(NOT_CONFIGURED)
    plan = PLANS.get(plan_id)
    if plan is None:
        raise ValueError(f"unknown plan {plan_id!r}")
    amount = plan.monthly_price if interval == "monthly" else plan.annual_price
    session = provider.create_checkout(tenant, plan, interval, float(amount), request_id)
    return {"session_id": session.session_id, "checkout_url": session.url, "plan_id": session.plan_id,
            "interval": session.interval, "amount": session.amount, "currency": session.currency}


def portal(provider: PaymentProvider | None, tenant: Tenant) -> str:
    """The customer-portal URL for the tenant (501 when no provider is configured)."""
    if provider is None:
        raise PaymentProviderUnavailableError(NOT_CONFIGURED)
    return provider.create_portal(tenant)
