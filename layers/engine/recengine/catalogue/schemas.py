"""Catalogue request models: items (id, active, free-form metadata), batches, the list query."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import Field, StringConstraints, field_validator, model_validator

from ..http.batches import BatchRequest
from ..http.schemas import MAX_BATCH, Id, Strict, aliases, free_json
from .model import ItemDraft

MAX_METADATA_BYTES = 16_384
Metadata = free_json(MAX_METADATA_BYTES, "Free-form metadata")


class ItemIn(Strict):
    """An item: `id`, optional `active`, and free-form metadata (nested or at the top level)."""

    id: Id
    active: bool = True
    metadata: Metadata = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _fold_extras(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("metadata", {}), dict):
            known = ("id", "active", "metadata")
            extras = {k: v for k, v in data.items() if k not in known}
            if extras:
                data = {k: data[k] for k in known if k in data}
                data["metadata"] = {**data.get("metadata", {}), **extras}
        return data

    def draft(self) -> ItemDraft:
        return ItemDraft(self.id, self.metadata, self.active)


class UpsertItemsRequest(BatchRequest):
    """Up to MAX_BATCH items; taken entry by entry (`split`), an invalid item or a repeated id is rejected
    by index and the others stored."""

    entries_field: ClassVar[str] = "items"
    entry_model: ClassVar[type] = ItemIn
    items: list[ItemIn] = Field(min_length=1, max_length=MAX_BATCH)

    @classmethod
    def entry_key(cls, entry: Any) -> str:
        return entry.id

    @field_validator("items")
    @classmethod
    def _unique(cls, items: list[ItemIn]) -> list[ItemIn]:
        ids = [i.id for i in items]
        if len(set(ids)) != len(ids):
            raise ValueError("item ids must be unique within a batch")
        return items

    def drafts(self) -> list[ItemDraft]:
        return [i.draft() for i in self.items]


class NumberedItemsQuery(Strict):
    """GET /api/items (the RecommendAI dialect): page numbers instead of cursors."""

    page: int = Field(default=1, ge=1, le=10_000, description="From 1; `page` x `pageSize` at most 10,000 (else 400: "
                      "GET /v1/items pages by cursor at any depth).")
    page_size: int = Field(default=20, ge=1, le=100, validation_alias=aliases("pageSize", "page_size"))
    search: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None


class ListItemsQuery(Strict):
    limit: int = Field(default=20, ge=1, le=100)
    cursor: Annotated[str, StringConstraints(max_length=2048)] | None = None
    search: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None

