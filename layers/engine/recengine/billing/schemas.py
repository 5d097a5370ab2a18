"""Billing request models."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .periods import MAX_OVERAGE_CAP
from .plans import PLANS


class OverageCapRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cap_amount: float = Field(ge=0, le=MAX_OVERAGE_CAP, allow_inf_nan=False)


class CheckoutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Documented as the enum it is (the validator keeps its message naming the plans).
    plan_id: str = Field(json_schema_extra={"enum": list(PLANS)})
    interval: Literal["monthly", "annual"] = "monthly"

    @field_validator("plan_id")
    @classmethod
    def _known(cls, plan_id: str) -> str:
        plan_id = plan_id.removeprefix("plan-")  # the seed's ids (`plan-growth`) name the same plans
        if plan_id not in PLANS:
            raise ValueError(f"plan_id must be one of {', '.join(PLANS)}")
        return plan_id


class SeedOverageCapRequest(OverageCapRequest):
    """The RecommendAI body `{capAmount}`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    cap_amount: float = Field(alias="capAmount", ge=0, le=MAX_OVERAGE_CAP, allow_inf_nan=False)


class SeedCheckoutRequest(CheckoutRequest):
    """The RecommendAI body `{planId, interval}`; `planId` is `plan-growth` or `growth`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    plan_id: str = Field(alias="planId", json_schema_extra={"enum": [f"plan-{p}" for p in PLANS] + list(PLANS)})
