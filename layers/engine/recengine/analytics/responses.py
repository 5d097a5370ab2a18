"""What the analytics routes answer (RecommendAI's field names), for the OpenAPI document and tests."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, RootModel


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AnalyticsStats(_Closed):
    """GET /api/analytics/stats: the tenant's totals (see README, "Analytics", for each field's source)."""

    totalUsers: int = Field(ge=0, description="Distinct end users ever sent in interactions (the plan's user count).")
    totalItems: int = Field(ge=0, description="Catalogue items counted against the plan's item limit.")
    totalRecommendations: int = Field(ge=0, description="Answered recommend and similar calls, all time.")
    totalInteractions: int = Field(ge=0, description="Events in answered interaction calls, all time.")
    activeModels: int = Field(ge=0, description="Servable model versions: live or candidate, with their artefact.")
    dailyActiveUsers: int = Field(ge=0, description="Distinct users with an interaction call today (UTC).")
    avgAccuracy: float | None = Field(description="Mean offline NDCG@10 of the active models (null: none has one).")


class AnalyticsPoint(_Closed):
    """One UTC day of GET /api/analytics/data."""

    date: str = Field(description="The UTC day, YYYY-MM-DD.")
    totalRecommendations: int = Field(ge=0, description="Answered recommend and similar calls that day.")
    activeUsers: int = Field(ge=0, description="Distinct users with an interaction call that day.")
    accuracy: float | None = Field(description="Offline NDCG@10 of the model live at the end of that day (null: "
                                               "no live model with that metric).")


class AnalyticsSeries(RootModel[list[AnalyticsPoint]]):
    """GET /api/analytics/data: one point per day of the period, oldest first (a bare array)."""
