"""Subscription plans: the one place where their numbers are edited.

template.yaml's usage plans read quota, rate and burst from its `Mappings: Plans` section, which
`scripts/sync_plans.py` generates from `PLANS` (a test fails when the two differ); the billing
service reads included requests, limits and prices from here."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

CURRENCY = "USD"
OVERAGE_BLOCK = 1_000  # requests per overage unit: each started block past the included ones is one unit


class Plan(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    monthly_price: float
    annual_price: float
    request_limit: int  # included metered requests per month; past them, calls are billed as overage
    quota_limit: int  # API Gateway usage plan quota: hard monthly ceiling on all keyed calls (429)
    rate_limit: float  # steady requests per second (usage plan throttle)
    burst_limit: int
    item_limit: int
    user_limit: int
    overage_unit_price: float  # per OVERAGE_BLOCK requests past the included ones
    default_overage_cap: float  # overage budget per period until the tenant sets its own
    daily_training_jobs: int  # on-demand trainings a tenant may start per UTC day (the schedule's are free)
    daily_batch_jobs: int  # batch generations a tenant may start per UTC day (the nightly one is free)


PLANS: dict[str, Plan] = {p.id: p for p in (
    Plan(id="starter", name="Starter", monthly_price=49, annual_price=470, request_limit=10_000,
         quota_limit=100_000, rate_limit=10, burst_limit=20, item_limit=1_000, user_limit=500,
         overage_unit_price=5.0, default_overage_cap=50, daily_training_jobs=4, daily_batch_jobs=2),
    Plan(id="growth", name="Growth", monthly_price=149, annual_price=1_430, request_limit=100_000,
         quota_limit=1_000_000, rate_limit=50, burst_limit=100, item_limit=10_000, user_limit=5_000,
         overage_unit_price=2.0, default_overage_cap=500, daily_training_jobs=24, daily_batch_jobs=6),
    Plan(id="enterprise", name="Enterprise", monthly_price=999, annual_price=9_590, request_limit=2_000_000,
         quota_limit=20_000_000, rate_limit=500, burst_limit=1_000, item_limit=1_000_000, user_limit=1_000_000,
         overage_unit_price=0.5, default_overage_cap=5_000, daily_training_jobs=96, daily_batch_jobs=24),
)}


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def usage_plan_mapping() -> dict[str, dict[str, int | float]]:
    """The template's `Mappings: Plans` content: what API Gateway enforces for each plan."""
    return {p.id: {"QuotaLimit": p.quota_limit, "RateLimit": _number(p.rate_limit), "BurstLimit": p.burst_limit}
            for p in PLANS.values()}
