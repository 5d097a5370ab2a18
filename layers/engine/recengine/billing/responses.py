"""What the billing routes answer, in both wire formats: the canonical /v1 (snake_case, wrapped lists)
and the RecommendAI seed's /api (camelCase, bare arrays, `plan-<id>` ids). The presenters build the
bodies; these models publish them in the OpenAPI document, where the fuzzer checks every answer."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, RootModel
from pydantic.alias_generators import to_camel

from ..http.schemas import Closed


class PlanView(Closed):
    id: str
    name: str
    monthly_price: float
    annual_price: float
    request_limit: int
    quota_limit: int
    rate_limit: float
    burst_limit: int
    item_limit: int
    user_limit: int
    overage_unit_price: float
    default_overage_cap: float
    daily_training_jobs: int
    daily_batch_jobs: int
    currency: str
    overage_block: int


class PlanList(Closed):
    plans: list[PlanView]


class BillingPeriod(Closed):
    id: str
    start: str
    end: str


class SubscriptionView(Closed):
    tenant_id: str
    status: Literal["active"]
    plan: PlanView
    period: BillingPeriod


class UsageView(Closed):
    tenant_id: str
    plan: str
    period: str
    period_start: str
    period_end: str
    currency: str
    requests_used: int
    request_limit: int
    percent_used: float
    overage_requests: int
    overage_units: int
    overage_unit_price: float
    overage_amount: float
    overage_budget_cap: float
    overage_cap_source: Literal["tenant", "plan-default"]
    max_requests: int
    budget_exceeded: bool
    items_used: int
    items_limit: int
    users_used: int
    users_limit: int
    last_request_at: str | None
    estimated_total: float


class InvoiceView(Closed):
    invoice_id: str
    period: str
    period_start: str
    period_end: str
    status: Literal["closed"]
    currency: str
    plan: str
    base_amount: float
    requests: int
    included_requests: int
    overage_units: int
    overage_unit_price: float
    overage_amount: float
    overage_budget_cap: float
    total: float


class InvoiceList(Closed):
    invoices: list[InvoiceView]


class CheckoutView(Closed):
    session_id: str
    checkout_url: str
    plan_id: str
    interval: Literal["monthly", "annual"]
    amount: float
    currency: str


class PortalView(Closed):
    portal_url: str


# The seed's wire format: the same fields, camelCase.
_CAMEL = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class SeedPlan(PlanView):
    model_config = _CAMEL


class SeedPlanList(RootModel[list[SeedPlan]]):
    """GET /api/billing/plans: a bare array."""


class SeedPeriod(BillingPeriod):
    model_config = _CAMEL


class SeedSubscription(SubscriptionView):
    model_config = _CAMEL
    plan: SeedPlan
    period: SeedPeriod


class SeedUsage(UsageView):
    model_config = _CAMEL


class SeedInvoice(InvoiceView):
    model_config = _CAMEL


class SeedInvoiceList(RootModel[list[SeedInvoice]]):
    """GET /api/billing/invoices: a bare array, newest first."""


class SeedCheckout(CheckoutView):
    model_config = _CAMEL


class SeedPortal(PortalView):
    model_config = _CAMEL
