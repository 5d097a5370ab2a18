"""Catalogue request models: items (id, active, free-form metadata, decisioning fields: offers and
their creatives), batches, the list query."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from ..http.batches import BatchRequest
from ..http.schemas import MAX_BATCH, CreativeId, Id, SlotName, Strict, aliases, free_json
from ..http.values import bounded_json, storable_number
from .model import ItemDraft

MAX_METADATA_BYTES = 16_384
Metadata = free_json(MAX_METADATA_BYTES, "Free-form metadata")
MAX_CREATIVES = 20
MAX_CREATIVE_BYTES = 4096
MAX_SLOTS = 20  # channels, placements
Amount = Annotated[float, AfterValidator(storable_number)]  # finite, within what DynamoDB stores
# The decisioning fields and the other names they are sent under (the offer-decisioning dialect's camelCase).
OFFER_ALIASES = {"start_at": ("startAt",), "end_at": ("endAt",)}


class CreativeIn(BaseModel):
    """One creative of an offer: `id` (letters, digits, `_.:-`), where it fits (`channel`: a type or a
    specific channel id, `channelId`, `placement`: a slot type; each optional, an absent one fits any)
    and its content (any other fields, at most MAX_CREATIVE_BYTES as JSON), shown as given."""

    # its content: any JSON DynamoDB stores (the document's shared free-form value)
    model_config = ConfigDict(extra="allow", populate_by_name=True,
                              json_schema_extra={"propertyNames": {"minLength": 1, "maxLength": 128}})

    id: CreativeId
    channel: SlotName | None = None
    channelId: SlotName | None = None
    placement: SlotName | None = None

    @model_validator(mode="after")
    def _bounded(self) -> "CreativeIn":
        bounded_json(MAX_CREATIVE_BYTES)(self.model_dump(exclude_none=True))
        return self


def _unique(values: list | None, what: str) -> list | None:
    if values is not None and len(set(values)) != len(values):
        raise ValueError(f"{what} must be unique")
    return values


def _utc_iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")  # already in UTC (_utc)


class OfferFieldsIn(Strict):
    """An item's decisioning fields: where it may be shown (`channels`: types or specific channel ids,
    `placements`: slot types), when (`start_at` included, `end_at` excluded and after `start_at`; ISO
    8601, UTC unless an offset is given), `priority` and business `value` (flows rank by them), and its
    `creatives`."""

    channels: list[SlotName] | None = Field(default=None, min_length=1, max_length=MAX_SLOTS,
                                            json_schema_extra={"uniqueItems": True})
    placements: list[SlotName] | None = Field(default=None, min_length=1, max_length=MAX_SLOTS,
                                              json_schema_extra={"uniqueItems": True})
    start_at: datetime | None = Field(default=None, validation_alias=aliases("start_at", "startAt"))
    end_at: datetime | None = Field(default=None, validation_alias=aliases("end_at", "endAt"))
    priority: Amount | None = None
    value: Amount | None = None
    creatives: list[CreativeIn] | None = Field(default=None, max_length=MAX_CREATIVES, description=(
        f"At most {MAX_CREATIVES}, ids unique within the offer, each at most {MAX_CREATIVE_BYTES} bytes as JSON."))

    @field_validator("start_at", "end_at")
    @classmethod
    def _utc(cls, moment: datetime | None) -> datetime | None:
        if moment is None:
            return None
        try:
            return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
        except (OverflowError, ValueError) as exc:  # e.g. year 1 with a positive offset
            raise ValueError("not a time in UTC's range") from exc

    @model_validator(mode="after")
    def _consistent(self) -> "OfferFieldsIn":
        _unique(self.channels, "channels")
        _unique(self.placements, "placements")
        _unique([c.id for c in self.creatives or ()], "creative ids")
        if self.start_at is not None and self.end_at is not None and self.end_at <= self.start_at:
            raise ValueError("end_at must be after start_at")
        return self

    def stored(self) -> dict[str, Any]:
        """The fields given, as stored: times as UTC ISO 8601 (`...Z`), creatives as sent."""
        out: dict[str, Any] = {}
        for name in ("channels", "placements", "priority", "value"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        for name in ("start_at", "end_at"):
            if getattr(self, name) is not None:
                out[name] = _utc_iso(getattr(self, name))
        if self.creatives is not None:
            out["creatives"] = [c.model_dump(exclude_none=True) for c in self.creatives]
        return out


OFFER_NAMES = {name for canonical in OfferFieldsIn.model_fields for name in (canonical, *OFFER_ALIASES.get(canonical, ()))}


class ItemIn(Strict):
    """An item: `id`, optional `active`, its decisioning fields (`offer`, or the same fields at the top
    level) and free-form metadata (nested, or any other field at the top level)."""

    id: Id
    active: bool = True
    metadata: Metadata = Field(default_factory=dict)
    offer: OfferFieldsIn = Field(default_factory=OfferFieldsIn)

    @model_validator(mode="before")
    @classmethod
    def _fold_extras(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("metadata", {}), dict):
            known = ("id", "active", "metadata", "offer")
            top = {k: v for k, v in data.items() if k in OFFER_NAMES}
            extras = {k: v for k, v in data.items() if k not in known and k not in OFFER_NAMES}
            if extras or top:
                data = {k: data[k] for k in known if k in data}
                if extras:
                    data["metadata"] = {**data.get("metadata", {}), **extras}
                if top and isinstance(data.get("offer", {}), dict):  # else `offer` itself is refused
                    data["offer"] = {**data.get("offer", {}), **top}
        return data

    def draft(self) -> ItemDraft:
        return ItemDraft(self.id, self.metadata, self.active, self.offer.stored())


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

