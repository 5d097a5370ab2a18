"""Catalogue response models: the documented shape of an upsert's answer (published in
docs/openapi.json; the presenters' dicts keep it)."""

from __future__ import annotations

from pydantic import Field

from ..http.schemas import Closed, Rejected


class UpsertItemsResponse(Closed):
    """200 when every item was stored; 207 when some entries were rejected (the others were stored).
    A batch with no valid entry is a 422, one the store could not fully write a 503 naming `not_stored`."""

    created: int = Field(description="Items new to the catalogue.")
    updated: int = Field(description="Items that existed and were replaced.")
    ids: list[str] = Field(description="The ids stored, in request order.")
    rejected: list[Rejected] | None = Field(default=None, description="Only when some entries were refused: each "
                                            "by index with its errors; nothing of them was stored or counted.")


class SeedItem(Closed):
    """An item in the RecommendAI dialect (/api/items)."""

    id: str
    tenantId: str
    metadata: dict
    isActive: bool
    createdAt: str | None = Field(description="ISO 8601, UTC.")
    updatedAt: str | None = Field(description="ISO 8601, UTC.")
    # The decisioning fields of an offer: present only when the item declares them.
    channels: list[str] | None = Field(default=None, description="Channel types or channel ids it runs on.")
    placements: list[str] | None = Field(default=None, description="Slot types it fits.")
    startAt: str | None = Field(default=None, description="Eligible from (ISO 8601, UTC).")
    endAt: str | None = Field(default=None, description="Eligible until, excluded (ISO 8601, UTC).")
    priority: float | None = None
    value: float | None = Field(default=None, description="Business value (flows rank by propensity x value).")
    creatives: list[dict] | None = Field(default=None, description="`{id, channel?, channelId?, placement?, ...}`.")


class NumberedItemPage(Closed):
    """GET /api/items: one page by number and the count of matching items."""

    data: list[SeedItem]
    total: int
    page: int
    pageSize: int
