"""Metering and plan limits: a metered call is counted before its work and taken back if the work
fails; item and user counts are reserved before anything is written."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from ..errors import PaymentRequiredError, StoreError
from ..observability import count, logger
from ..tenancy.model import Tenant
from . import periods
from .store import UsageStore


class OverageBudgetExceededError(PaymentRequiredError):
    """A metered call would take the period's overage amount past the tenant's cap."""


class PlanLimitExceededError(PaymentRequiredError):
    """Ingestion would take the tenant's item or user count past the plan's limit."""


def meter_call(usage: UsageStore, tenant: Tenant, now: float | None = None) -> str:
    """Counts one metered call in the current period, or raises OverageBudgetExceededError (402)
    without counting it when the call would take the overage past the cap. Returns the period."""
    now = periods.clock() if now is None else now
    plan = periods.plan_of(tenant)
    period = periods.period_of(now)
    counted = usage.count_request(tenant.tenant_id, period, now, plan.id,
                                  periods.allowance(plan, plan.default_overage_cap))
    if counted is None:
        count("MeteringRefused", plan=plan.id)
        raise OverageBudgetExceededError(
            "the overage budget for this billing period is spent: raise it with PUT /v1/billing/overage-cap "
            "or wait for the next period")
    return period


def unmeter_call(usage: UsageStore, tenant: Tenant, period: str) -> None:
    usage.uncount_request(tenant.tenant_id, period)


@contextmanager
def metered(usage: UsageStore, tenant: Tenant) -> Iterator[None]:
    """Counts one metered call before the work (402 if the overage budget is spent, and then nothing
    is counted); if the work then fails, the call is taken back, so only answered calls are billed."""
    period = meter_call(usage, tenant)
    try:
        yield
    except Exception:
        try:
            unmeter_call(usage, tenant, period)
        except StoreError:
            logger.warning("could not take back a failed metered call", extra={"tenant_id": tenant.tenant_id})
        raise


@dataclass(frozen=True)
class CountLimit:
    """A plan limit on a tenant-wide count (items or users), enforced by reserving before writing."""

    usage: UsageStore
    tenant_id: str
    counter: str  # "items" or "users"
    limit: int

    def reserve(self, n: int) -> None:
        if not self.usage.reserve(self.tenant_id, self.counter, n, self.limit):
            count("PlanLimitRefused", counter=self.counter)
            raise PlanLimitExceededError(
                f"this would take the tenant past its plan's limit of {self.limit} {self.counter}: "
                "change to a larger plan")

    def release(self, n: int) -> None:
        self.usage.release(self.tenant_id, self.counter, n)


def item_limit(usage: UsageStore, tenant: Tenant) -> CountLimit:
    """The tenant's plan limit on catalogue items, for catalogue.upsert_items."""
    return CountLimit(usage, tenant.tenant_id, "items", periods.plan_of(tenant).item_limit)


def user_limit(usage: UsageStore, tenant: Tenant) -> CountLimit:
    """The tenant's plan limit on distinct users, for events.record_interactions."""
    return CountLimit(usage, tenant.tenant_id, "users", periods.plan_of(tenant).user_limit)
