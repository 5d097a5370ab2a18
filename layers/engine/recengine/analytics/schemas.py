"""The analytics routes' query string, validated at the edge."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class AnalyticsQuery(BaseModel):
    """`period`: the lookback of GET /api/analytics/data (RecommendAI's 7d, 30d or 90d; 7d by default)."""

    model_config = ConfigDict(extra="forbid")

    period: Literal["7d", "30d", "90d"] = "7d"
