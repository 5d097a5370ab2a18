"""Checkout through a payment provider. No real provider is reachable from this deployment yet, so
checkout answers 501; tests use InMemoryPaymentProvider, and nothing fakes a successful payment."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Protocol

from ..errors import PaymentProviderUnavailableError
from ..tenancy.model import Tenant
from .plans import CURRENCY, PLANS, Plan


@dataclass(frozen=True)
class CheckoutSession:
    session_id: str
    url: str
    plan_id: str
    interval: str
    amount: float
    currency: str = CURRENCY


class PaymentProvider(Protocol):
    """A hosted checkout (e.g. a card processor). The real one lives outside this deployment."""

    def create_checkout(self, tenant_id: str, plan: Plan, interval: str, amount: float) -> CheckoutSession: ...

    def create_portal(self, tenant_id: str) -> str:
        """The URL of a hosted page where the tenant manages its subscription and payment methods."""
        ...


@dataclass
class InMemoryPaymentProvider:
    """Records sessions in memory; for tests and the local stack only, never a real payment."""

    sessions: dict[str, tuple[str, CheckoutSession]] = field(default_factory=dict)

    def create_checkout(self, tenant_id: str, plan: Plan, interval: str, amount: float) -> CheckoutSession:
        session_id = f"cs_test_{uuid.uuid4().hex[:16]}"
        session = CheckoutSession(session_id, f"memory://checkout/{session_id}", plan.id, interval, amount)
        self.sessions[session_id] = (tenant_id, session)
        return session

    def create_portal(self, tenant_id: str) -> str:
        return f"memory://portal/{tenant_id}"


def checkout(provider: PaymentProvider | None, tenant: Tenant, plan_id: str, interval: str) -> dict:
    if provider is None:
        raise PaymentProviderUnavailableError("no payment provider is configured for this deployment")
    plan = PLANS.get(plan_id)
    if plan is None:
        raise ValueError(f"unknown plan {plan_id!r}")
    amount = plan.monthly_price if interval == "monthly" else plan.annual_price
    session = provider.create_checkout(tenant.tenant_id, plan, interval, float(amount))
    return {"session_id": session.session_id, "checkout_url": session.url, "plan_id": session.plan_id,
            "interval": session.interval, "amount": session.amount, "currency": session.currency}


def portal(provider: PaymentProvider | None, tenant: Tenant) -> str:
    """The customer-portal URL for the tenant (501 when no provider is configured)."""
    if provider is None:
        raise PaymentProviderUnavailableError("no payment provider is configured for this deployment")
    return provider.create_portal(tenant.tenant_id)
