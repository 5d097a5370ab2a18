"""Billing reports and settings: the plan catalogue, the subscription, this period's usage, the
overage cap, invoices of closed periods (money rules in periods.py)."""

from __future__ import annotations

from decimal import Decimal

from ..observability import logger
from ..tenancy.model import Tenant
from . import periods
from .periods import (MAX_OVERAGE_CAP, allowance, iso, money, overage_amount, overage_units, period_bounds, period_of,
                      plan_of)
from .plans import CURRENCY, OVERAGE_BLOCK, PLANS, Plan
from .store import UsageStore


def plan_view(plan: Plan) -> dict:
    return {**plan.model_dump(), "currency": CURRENCY, "overage_block": OVERAGE_BLOCK}


def plan_catalogue() -> list[dict]:
    return [plan_view(p) for p in PLANS.values()]


def subscription(tenant: Tenant, now: float | None = None) -> dict:
    now = periods.clock() if now is None else now
    period = period_of(now)
    start, end = period_bounds(period)
    return {"tenant_id": tenant.tenant_id, "status": "active", "plan": plan_view(plan_of(tenant)),
            "period": {"id": period, "start": start, "end": end}}


def _cap_of(row: dict, plan: Plan) -> tuple[float, str]:
    if "overage_cap" in row:
        return float(row["overage_cap"]), "tenant"
    return float(plan.default_overage_cap), "plan-default"


def usage_report(usage: UsageStore, tenant: Tenant, now: float | None = None) -> dict:
    now = periods.clock() if now is None else now
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
        "last_request_at": iso(row.get("last_request_at")),
        "estimated_total": money(Decimal(str(plan.monthly_price)) + Decimal(str(amount))),
    }


def set_overage_cap(usage: UsageStore, tenant: Tenant, cap: float, now: float | None = None) -> dict:
    """Sets the current period's overage cap; the new allowance applies to the next metered call."""
    now = periods.clock() if now is None else now
    if not 0 <= cap <= MAX_OVERAGE_CAP:
        raise ValueError(f"the cap must be between 0 and {MAX_OVERAGE_CAP:g}")
    plan = plan_of(tenant)
    cap = money(cap)
    usage.set_overage_cap(tenant.tenant_id, period_of(now), cap, allowance(plan, cap), plan.id)
    logger.info("overage cap set", extra={"tenant_id": tenant.tenant_id, "cap": cap})
    return usage_report(usage, tenant, now)


def reapply_overage_cap(usage: UsageStore, tenant: Tenant, now: float | None = None) -> None:
    """After a plan change: recomputes the current period's allowance from the tenant's cap (if it set one)."""
    now = periods.clock() if now is None else now
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
            "base_amount": money(plan.monthly_price), "requests": requests,
            "included_requests": plan.request_limit, "overage_units": overage_units(requests, plan),
            "overage_unit_price": plan.overage_unit_price, "overage_amount": amount, "overage_budget_cap": cap,
            "total": money(Decimal(str(plan.monthly_price)) + Decimal(str(amount)))}


def invoices(usage: UsageStore, tenant: Tenant, now: float | None = None) -> list[dict]:
    """One invoice per closed period (before the current one) that has a usage row, newest first."""
    now = periods.clock() if now is None else now
    rows = usage.periods_before(tenant.tenant_id, period_of(now))
    return [invoice_for(r, plan_of(tenant)) for r in reversed(rows)]
