"""Catalogue items as the services hand them around."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..aws.dynamo import readable_json


# An item's decisioning fields (offers and creatives), kept beside its metadata in `offer`: what
# decisioning.offers judges eligibility on and flows rank by. Only the fields given are stored.
OFFER_FIELDS = ("channels", "placements", "start_at", "end_at", "priority", "value", "creatives")


@dataclass(frozen=True)
class ItemDraft:
    """An item as a caller sends it: id, free-form metadata, active flag, decisioning fields."""

    id: str
    metadata: dict[str, Any] = field(default_factory=dict)
    active: bool = True
    offer: dict[str, Any] = field(default_factory=dict)

    def as_row(self) -> dict:
        return {"id": self.id, "metadata": self.metadata, "active": self.active, "offer": self.offer}


@dataclass(frozen=True)
class Item:
    id: str
    metadata: dict[str, Any]
    active: bool
    created_at: float | None
    updated_at: float | None
    offer: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: dict) -> "Item":
        return cls(row["item_id"], row.get("metadata", {}), row.get("active", True), row.get("created_at"),
                   row.get("updated_at"), offer_fields(row))


def offer_fields(row: dict) -> dict[str, Any]:
    """The decisioning fields of an item row (the store's, the snapshot's or the catalogue view's); {}
    for an item that has none (or a row from before they existed)."""
    offer = row.get("offer")
    return offer if isinstance(offer, dict) else {}


def decision_document(row: dict) -> dict[str, Any]:
    """What rules and flows read of an item: its metadata with its decisioning fields laid over it
    (so a flow's `value` and `priority` are the offer's own when it declares them)."""
    metadata = row.get("metadata")
    return {**(metadata if isinstance(metadata, dict) else {}), **offer_fields(row)}


@dataclass(frozen=True)
class UpsertResult:
    """What an upsert stored (`ids`, in the order given) and what it could not (`not_stored`)."""

    created: int
    updated: int
    ids: list[str]
    not_stored: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ItemPage:
    items: list[Item]
    next_cursor: str | None


@dataclass
class NumberedPage:
    """A page by number (the RecommendAI dialect's page/pageSize) and the count of matching items."""

    items: list[Item]
    total: int
    page: int
    page_size: int


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def item_row_problem(row: dict) -> str | None:
    """Why a stored item row cannot be served or trained on (written before the edge's validation, or
    corrupted), or None: every reader skips such a row rather than failing the tenant."""
    if not isinstance(row.get("item_id"), str) or not row["item_id"]:
        return "item_id is not text"
    metadata = row.get("metadata", {})
    if not isinstance(metadata, dict):
        return "metadata is not an object"
    if not readable_json(metadata):
        return "metadata holds a value JSON cannot carry"
    offer = row.get("offer", {})
    if not isinstance(offer, dict) or not readable_json(offer):
        return "offer is not an object JSON can carry"
    if not isinstance(row.get("active", True), bool):
        return "active is not a boolean"
    if any(row.get(f) is not None and not _number(row[f]) for f in ("created_at", "updated_at")):
        return "a timestamp is not a number"
    return None
