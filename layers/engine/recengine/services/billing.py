"""Billing: plans, metering with the overage cap, item and user limits, usage, invoices, checkout.

Money rules (one place):
- A period is a calendar month in UTC (`YYYY-MM`).
- `request_limit` metered requests are included in the plan price. Every started block of
  OVERAGE_BLOCK (1,000) requests past them is one overage unit at the plan's unit price, so
  100,001..101,000 requests on growth is 1 unit; amounts are rounded to cents.
- The overage cap bounds what a period's overage may cost. A metered call is admitted while the
  overage it makes stays within the cap, so a period may count at most
  included + floor(cap / unit price) x 1,000 requests (its allowance); past that, 402. The cap is
  the plan's default until the tenant sets one, and applies to the period it is set in."""

from __future__ import annotations

import calendar
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Protocol

from ..errors import OverageBudgetExceededError, PaymentProviderUnavailableError, PlanLimitExceededError
from ..plans import CURRENCY, OVERAGE_BLOCK, PLANS, Plan
from ..stores.dynamo import Tenant
from ..stores.usage import UsageStore

MAX_OVERAGE_CAP = 1_000_000.0


def clock() -> float:
    """Now, in epoch seconds; tests replace it to move between billing periods."""
    return time.time()


def plan_of(tenant: Tenant) -> Plan:
    try:
        return PLANS[tenant.plan]
    except KeyError:
        raise ValueError(f"tenant {tenant.tenant_id!r} is on an unknown plan {tenant.plan!r}") from None


def plan_view(plan: Plan) -> dict:
    return {**plan.model_dump(), "currency": CURRENCY, "overage_block": OVERAGE_BLOCK}


def plan_catalogue() -> list[dict]:
    return [plan_view(p) for p in PLANS.values()]


# ---------------------------------------------------------------------- periods and money
def period_of(now: float) -> str:
    return time.strftime("%Y-%m", time.gmtime(now))


def period_bounds(period: str) -> tuple[str, str]:
    """(first instant, first instant of the next period) as ISO 8601 UTC."""
    year, month = map(int, period.split("-"))
    start = calendar.timegm((year, month, 1, 0, 0, 0))
    end = calendar.timegm((year + month // 12, month % 12 + 1, 1, 0, 0, 0))
    return _iso(start), _iso(end)


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat().replace("+00:00", "Z")


def _money(value: Decimal | float) -> float:
    return float(Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def overage_units(requests: int, plan: Plan) -> int:
    past = max(0, requests - plan.request_limit)
    return -(-past // OVERAGE_BLOCK)


def allowance(plan: Plan, cap: float) -> int:
    """The most metered requests a period may count under this overage cap."""
    if plan.overage_unit_price <= 0:
        raise ValueError(f"plan {plan.id!r} has no overage price")
    units = (Decimal(str(cap)) / Decimal(str(plan.overage_unit_price))).to_integral_value(rounding=ROUND_FLOOR)
    return plan.request_limit + int(units) * OVERAGE_BLOCK


def overage_amount(requests: int, plan: Plan, cap: float) -> float:
    return min(_money(Decimal(overage_units(requests, plan)) * Decimal(str(plan.overage_unit_price))), _money(cap))


# ---------------------------------------------------------------------- metering
def meter_call(usage: UsageStore, tenant: Tenant, now: float | None = None) -> str:
    """Counts one metered call in the current period, or raises OverageBudgetExceededError (402)
    without counting it when the call would take the overage past the cap. Returns the period."""
    now = clock() if now is None else now
    plan = plan_of(tenant)
    period = period_of(now)
    counted = usage.count_request(tenant.tenant_id, period, now, plan.id, allowance(plan, plan.default_overage_cap))
    if counted is None:
        raise OverageBudgetExceededError(
            "the overage budget for this billing period is spent: raise it with PUT /v1/billing/overage-cap "
            "or wait for the next period")
    return period


def unmeter_call(usage: UsageStore, tenant: Tenant, period: str) -> None:
    usage.uncount_request(tenant.tenant_id, period)


@dataclass(frozen=True)
class CountLimit:
    """A plan limit on a tenant-wide count (items or users), enforced by reserving before writing."""

    usage: UsageStore
    tenant_id: str
    counter: str  # "items" or "users"
    limit: int

    def reserve(self, n: int) -> None:
        if not self.usage.reserve(self.tenant_id, self.counter, n, self.limit):
            raise PlanLimitExceededError(
                f"this would take the tenant past its plan's limit of {self.limit} {self.counter}: "
                "change to a larger plan")

    def release(self, n: int) -> None:
        self.usage.release(self.tenant_id, self.counter, n)


def item_limit(usage: UsageStore, tenant: Tenant) -> CountLimit:
    return CountLimit(usage, tenant.tenant_id, "items", plan_of(tenant).item_limit)


def user_limit(usage: UsageStore, tenant: Tenant) -> CountLimit:
    return CountLimit(usage, tenant.tenant_id, "users", plan_of(tenant).user_limit)


# ---------------------------------------------------------------------- reports
def subscription(tenant: Tenant, now: float | None = None) -> dict:
    now = clock() if now is None else now
    period = period_of(now)
    start, end = period_bounds(period)
    return {"tenant_id": tenant.tenant_id, "status": "active", "plan": plan_view(plan_of(tenant)),
            "period": {"id": period, "start": start, "end": end}}


def _cap_of(row: dict, plan: Plan) -> tuple[float, str]:
    if "overage_cap" in row:
        return float(row["overage_cap"]), "tenant"
    return float(plan.default_overage_cap), "plan-default"


def usage_report(usage: UsageStore, tenant: Tenant, now: float | None = None) -> dict:
    now = clock() if now is None else now
    plan = plan_of(tenant)
    period = period_of(now)
    row = usage.period(tenant.tenant_id, period)
    totals = usage.totals(tenant.tenant_id)
    requests = int(row.get("requests", 0))
    cap, cap_source = _cap_of(row, plan)
    max_requests = int(row["allowance"]) if "allowance" in row else allowance(plan, cap)
    amount = overage_amount(requests, plan, cap)
    start, end = period_bounds(period)
    return {
        "tenant_id": tenant.tenant_id, "plan": plan.id, "period": period, "period_start": start, "period_end": end,
        "currency": CURRENCY,
        "requests_used": requests, "request_limit": plan.request_limit,
        "percent_used": round(100.0 * requests / plan.request_limit, 2),
        "overage_requests": max(0, requests - plan.request_limit), "overage_units": overage_units(requests, plan),
        "overage_unit_price": plan.overage_unit_price, "overage_amount": amount,
        "overage_budget_cap": cap, "overage_cap_source": cap_source, "max_requests": max_requests,
        "budget_exceeded": requests >= max_requests,
        "items_used": totals["items"], "items_limit": plan.item_limit,
        "users_used": totals["users"], "users_limit": plan.user_limit,
        "last_request_at": _iso(row.get("last_request_at")),
        "estimated_total": _money(Decimal(str(plan.monthly_price)) + Decimal(str(amount))),
    }


def set_overage_cap(usage: UsageStore, tenant: Tenant, cap: float, now: float | None = None) -> dict:
    """Sets the current period's overage cap; the new allowance applies to the next metered call."""
    now = clock() if now is None else now
    if not 0 <= cap <= MAX_OVERAGE_CAP:
        raise ValueError(f"the cap must be between 0 and {MAX_OVERAGE_CAP:g}")
    plan = plan_of(tenant)
    cap = _money(cap)
    usage.set_overage_cap(tenant.tenant_id, period_of(now), cap, allowance(plan, cap), plan.id)
    return usage_report(usage, tenant, now)


def reapply_overage_cap(usage: UsageStore, tenant: Tenant, now: float | None = None) -> None:
    """After a plan change: recomputes the current period's allowance from the tenant's cap (if it set one)."""
    now = clock() if now is None else now
    row = usage.period(tenant.tenant_id, period_of(now))
    if "overage_cap" in row:
        plan = plan_of(tenant)
        usage.set_overage_cap(tenant.tenant_id, period_of(now), float(row["overage_cap"]),
                              allowance(plan, float(row["overage_cap"])), plan.id)


def invoice_for(row: dict, fallback_plan: Plan) -> dict:
    """The invoice of one closed period row: plan price + overage (never above the period's cap)."""
    plan = PLANS.get(row.get("plan", ""), fallback_plan)
    requests = int(row.get("requests", 0))
    cap, _ = _cap_of(row, plan)
    amount = overage_amount(requests, plan, cap)
    start, end = period_bounds(row["period"])
    return {"invoice_id": f"inv-{row['tenant_id']}-{row['period']}", "period": row["period"],
            "period_start": start, "period_end": end, "status": "closed", "currency": CURRENCY, "plan": plan.id,
            "base_amount": _money(plan.monthly_price), "requests": requests,
            "included_requests": plan.request_limit, "overage_units": overage_units(requests, plan),
            "overage_unit_price": plan.overage_unit_price, "overage_amount": amount, "overage_budget_cap": cap,
            "total": _money(Decimal(str(plan.monthly_price)) + Decimal(str(amount)))}


def invoices(usage: UsageStore, tenant: Tenant, now: float | None = None) -> list[dict]:
    """One invoice per closed period (before the current one) that has a usage row, newest first."""
    now = clock() if now is None else now
    rows = usage.periods_before(tenant.tenant_id, period_of(now))
    return [invoice_for(r, plan_of(tenant)) for r in reversed(rows)]


# ---------------------------------------------------------------------- checkout
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


@dataclass
class InMemoryPaymentProvider:
    """Records sessions in memory; for tests and the local stack only, never a real payment."""

    sessions: dict[str, tuple[str, CheckoutSession]] = field(default_factory=dict)

    def create_checkout(self, tenant_id: str, plan: Plan, interval: str, amount: float) -> CheckoutSession:
        session_id = f"cs_test_{uuid.uuid4().hex[:16]}"
        session = CheckoutSession(session_id, f"memory://checkout/{session_id}", plan.id, interval, amount)
        self.sessions[session_id] = (tenant_id, session)
        return session


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
