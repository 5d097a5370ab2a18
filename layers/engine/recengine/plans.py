"""Subscription plans. template.yaml's usage plans carry the same quota and throttle figures; a
test keeps the two equal until the billing issue generates one from the other."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Plan(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    monthly_price: float
    request_limit: int  # included requests per month (the usage plan quota)
    rate_limit: float  # steady requests per second (usage plan throttle)
    burst_limit: int
    item_limit: int
    user_limit: int
    overage_unit_price: float  # per 1,000 requests past the included ones


PLANS: dict[str, Plan] = {p.id: p for p in (
    Plan(id="starter", name="Starter", monthly_price=49, request_limit=10_000, rate_limit=10, burst_limit=20,
         item_limit=1_000, user_limit=500, overage_unit_price=5.0),
    Plan(id="growth", name="Growth", monthly_price=149, request_limit=100_000, rate_limit=50, burst_limit=100,
         item_limit=10_000, user_limit=5_000, overage_unit_price=2.0),
    Plan(id="enterprise", name="Enterprise", monthly_price=999, request_limit=2_000_000, rate_limit=500,
         burst_limit=1_000, item_limit=1_000_000, user_limit=1_000_000, overage_unit_price=0.5),
)}
