"""Billing request models."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from .periods import MAX_OVERAGE_CAP
from .plans import PLANS


class OverageCapRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # `capAmount` is RecommendAI's name (/api/billing/overage-cap); both are accepted on both paths.
    cap_amount: float = Field(validation_alias=AliasChoices("cap_amount", "capAmount"), ge=0, le=MAX_OVERAGE_CAP, allow_inf_nan=False)


class CheckoutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Documented as the enum it is (the validator keeps its message naming the plans).
    # `planId` / `plan-growth` are RecommendAI's spellings; both are accepted on both paths.
    plan_id: str = Field(validation_alias=AliasChoices("plan_id", "planId"),
                         json_schema_extra={"enum": list(PLANS) + [f"plan-{p}" for p in PLANS]})
    interval: Literal["monthly", "annual"] = "monthly"

    @field_validator("plan_id")
    @classmethod
    def _known(cls, plan_id: str) -> str:
        plan_id = plan_id.removeprefix("plan-")  # the seed's ids (`plan-growth`) name the same plans
        if plan_id not in PLANS:
            raise ValueError(f"plan_id must be one of {', '.join(PLANS)}")
        return plan_id

    @property
    def plan(self) -> tuple[str, str]:
        """(plan id, interval): what checkout buys."""
        return self.plan_id, self.interval
