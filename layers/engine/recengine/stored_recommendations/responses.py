"""The stored recommendations' response models, as published in the OpenAPI document."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..http.schemas import Closed


class StoredRecommendationView(Closed):
    """One stored recommendation: an item of a user's precomputed list (RecommendAI's shape, plus the
    algorithm and rank the list was generated with)."""

    id: str = Field(description="Opaque and stable: the same user, algorithm and item keep it.")
    userId: str
    itemId: str
    score: float | None
    reason: str
    algorithm: str
    createdAt: str = Field(description="When the list was generated (ISO 8601, UTC).")
    metadata: dict | None = Field(description="The item's catalogue metadata; null once it left the catalogue.")


class StoredRecommendationPage(Closed):
    data: list[StoredRecommendationView]
    total: int
    page: int
    pageSize: int


class GenerationAccepted(Closed):
    """The batch job started over the segment; its lists become records as its chunks finish."""

    jobId: str
    status: Literal["processing", "completed", "failed"]
    estimatedCompletionMs: int = Field(description="A planning estimate (0 once the job is over), not a promise.")
    users: int = Field(description="How many users the segment holds.")
