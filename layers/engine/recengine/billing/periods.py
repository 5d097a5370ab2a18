"""Billing periods and money: the rules every meter, report and invoice uses.

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
from datetime import datetime, timezone
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

from ..tenancy.model import Tenant
from .plans import OVERAGE_BLOCK, PLANS, Plan

MAX_OVERAGE_CAP = 1_000_000.0


def clock() -> float:
    """Now, in epoch seconds; tests replace it to move between billing periods."""
    return time.time()


def plan_of(tenant: Tenant) -> Plan:
    try:
        return PLANS[tenant.plan]
    except KeyError:
        raise ValueError(f"tenant {tenant.tenant_id!r} is on an unknown plan {tenant.plan!r}") from None


def period_of(now: float) -> str:
    return time.strftime("%Y-%m", time.gmtime(now))


def period_bounds(period: str) -> tuple[str, str]:
    """(first instant, first instant of the next period) as ISO 8601 UTC."""
    year, month = map(int, period.split("-"))
    start = calendar.timegm((year, month, 1, 0, 0, 0))
    end = calendar.timegm((year + month // 12, month % 12 + 1, 1, 0, 0, 0))
    return iso(start), iso(end)


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat().replace("+00:00", "Z")


def money(value: Decimal | float) -> float:
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
    return min(money(Decimal(overage_units(requests, plan)) * Decimal(str(plan.overage_unit_price))), money(cap))
