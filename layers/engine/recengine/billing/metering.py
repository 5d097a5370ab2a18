"""Metering and plan limits: a metered call is counted before its work (once per request id) and
taken back if the work fails; a throttled meter serves the call and defers its count; item and user
counts are reserved before anything is written."""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from ..analytics.counters import Tally, tally_items
from ..errors import PaymentRequiredError, StoreError
from ..observability import count, logger
from ..tenancy.model import Tenant
from . import periods
from .store import MeterMark, MeterThrottledError, UsageStore


class OverageBudgetExceededError(PaymentRequiredError):
    """A metered call would take the period's overage amount past the tenant's cap."""


class PlanLimitExceededError(PaymentRequiredError):
    """Ingestion would take the tenant's item or user count past the plan's limit."""


def meter_call(usage: UsageStore, tenant: Tenant, request_id: str | None, now: float | None = None,
               tally: Tally | None = None) -> MeterMark:
    """Counts one metered call in the current period, once per request id (API Gateway's), or raises
    OverageBudgetExceededError (402) without counting it when the call would take the overage past
    the cap. A throttled meter does not refuse: the call is served and its count deferred. `tally`:
    what the call adds to the day's analytics counters, in the same transaction as its count."""
    now = periods.clock() if now is None else now
    plan = periods.plan_of(tenant)
    period = periods.period_of(now)
    request_id = request_id or f"unkeyed-{uuid.uuid4().hex}"  # outside API Gateway: counted, never merged
    riders = None if tally is None else (lambda shard: tally_items(usage.name, tenant.tenant_id, shard, now, tally))
    try:
        mark = usage.count_request(tenant.tenant_id, period, request_id, now, plan.id,
                                   periods.allowance(plan, plan.default_overage_cap), riders)
    except MeterThrottledError as exc:
        return _defer(usage, tenant, period, request_id, now, plan.id, exc)
    if mark is None:
        count("MeteringRefused", plan=plan.id)
        raise OverageBudgetExceededError(
            "the overage budget for this billing period is spent: raise it with PUT /v1/billing/overage-cap "
            "or wait for the next period")
    return mark


def _defer(usage: UsageStore, tenant: Tenant, period: str, request_id: str, now: float, plan: str,
           throttled: MeterThrottledError) -> MeterMark:
    """The meter is throttled: the call is served, and its count is kept for the usage report and
    invoices as a deferred-count row (written once per request id). If even that write fails, the
    log line below is the record to reconcile from."""
    try:
        mark = usage.defer_request(tenant.tenant_id, period, request_id, now, plan, throttled.reason, throttled.owner)
    except StoreError as exc:
        mark = MeterMark(period, request_id, None, stored=False)
        failure = str(exc)
    else:
        failure = None
    if mark.deferred:
        count("MeterDeferred", reason=throttled.reason, stored=str(mark.stored).lower())
        log = logger.warning if mark.stored else logger.error
        log("metered call served with its count deferred", extra={
            "tenant_id": tenant.tenant_id, "period": period, "request_id": request_id, "plan": plan,
            "reason": throttled.reason, "stored": mark.stored, "error": failure})
    return mark


def unmeter_call(usage: UsageStore, tenant: Tenant, mark: MeterMark) -> None:
    usage.uncount_request(tenant.tenant_id, mark)


@contextmanager
def metered(usage: UsageStore, tenant: Tenant, request_id: str | None) -> Iterator[MeterMark]:
    """Counts one metered call before the work (402 if the overage budget is spent, and then nothing
    is counted); if the work then fails, the call is taken back, so only answered calls are billed."""
    mark = meter_call(usage, tenant, request_id)
    try:
        yield mark
    except Exception:
        take_back(usage, tenant, mark)
        raise


def take_back(usage: UsageStore, tenant: Tenant, mark: MeterMark) -> None:
    """Uncounts a metered call that is answered as failed (a 5xx the client retries)."""
    try:
        unmeter_call(usage, tenant, mark)
    except StoreError:
        logger.warning("could not take back a failed metered call",
                       extra={"tenant_id": tenant.tenant_id, "request_id": mark.request_id})


class MeterBeside:
    """The meter as a call a request runs beside its reads (one round trip, not two): it counts the
    call once per request id (402 past the cap); `take_back` uncounts it if it was counted."""

    def __init__(self, usage: UsageStore, tenant: Tenant, request_id: str | None, tally: Tally | None = None):
        self.usage, self.tenant, self.request_id, self.tally = usage, tenant, request_id, tally
        self.mark: MeterMark | None = None

    def __call__(self) -> None:
        self.mark = meter_call(self.usage, self.tenant, self.request_id, tally=self.tally)

    def take_back(self) -> None:
        if self.mark is not None:
            take_back(self.usage, self.tenant, self.mark)


@contextmanager
def metered_beside(usage: UsageStore, tenant: Tenant, request_id: str | None,
                   tally: Tally | None = None) -> Iterator[MeterBeside]:
    """`metered` for work that runs the meter itself, beside its reads: if the work fails after the
    meter counted the call, the call is taken back, so only answered calls are billed (and counted
    in the day's analytics: `tally`)."""
    meter = MeterBeside(usage, tenant, request_id, tally)
    try:
        yield meter
    except Exception:
        meter.take_back()
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

    def try_reserve(self, n: int) -> bool:
        """Reserves n if it fits, else False (nothing changed, nothing raised): events.service reserves
        every user of a batch in the same round trip as the read of which are new (ADR 0002)."""
        return self.usage.reserve(self.tenant_id, self.counter, n, self.limit)

    def release(self, n: int) -> None:
        self.usage.release(self.tenant_id, self.counter, n)


def item_limit(usage: UsageStore, tenant: Tenant) -> CountLimit:
    """The tenant's plan limit on catalogue items, for catalogue.upsert_items."""
    return CountLimit(usage, tenant.tenant_id, "items", periods.plan_of(tenant).item_limit)


def user_limit(usage: UsageStore, tenant: Tenant) -> CountLimit:
    """The tenant's plan limit on distinct users, for events.record_interactions."""
    return CountLimit(usage, tenant.tenant_id, "users", periods.plan_of(tenant).user_limit)
