"""Catalogue items as the services hand them around."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ItemDraft:
    """An item as a caller sends it: id, free-form metadata, active flag."""

    id: str
    metadata: dict[str, Any] = field(default_factory=dict)
    active: bool = True

    def as_row(self) -> dict:
        return {"id": self.id, "metadata": self.metadata, "active": self.active}


@dataclass(frozen=True)
class Item:
    id: str
    metadata: dict[str, Any]
    active: bool
    created_at: float | None
    updated_at: float | None

    @classmethod
    def from_row(cls, row: dict) -> "Item":
        return cls(row["item_id"], row.get("metadata", {}), row.get("active", True), row.get("created_at"),
                   row.get("updated_at"))


@dataclass(frozen=True)
class UpsertResult:
    created: int
    updated: int
    ids: list[str]


@dataclass(frozen=True)
class ItemPage:
    items: list[Item]
    next_cursor: str | None
