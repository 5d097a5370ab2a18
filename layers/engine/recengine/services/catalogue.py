"""Catalogue items: upsert, list, get, deactivate."""

from __future__ import annotations

import time

from ..errors import NotFoundError
from ..stores.dynamo import ItemStore


def item_view(row: dict) -> dict:
    return {"id": row["item_id"], "metadata": row.get("metadata", {}), "active": row.get("active", True),
            "created_at": row.get("created_at"), "updated_at": row.get("updated_at")}


def upsert_items(store: ItemStore, tenant_id: str, items: list[dict]) -> dict:
    created, updated = store.upsert(tenant_id, items, time.time())
    return {"created": created, "updated": updated, "ids": [i["id"] for i in items]}


def list_items(store: ItemStore, tenant_id: str, limit: int, cursor: str | None, search: str | None) -> dict:
    rows, next_cursor = store.page(tenant_id, limit, cursor, search)
    return {"items": [item_view(r) for r in rows], "next_cursor": next_cursor}


def get_item(store: ItemStore, tenant_id: str, item_id: str) -> dict:
    row = store.get(tenant_id, item_id)
    if row is None:
        raise NotFoundError(f"item {item_id!r} not found")
    return item_view(row)


def deactivate_item(store: ItemStore, tenant_id: str, item_id: str) -> None:
    if not store.deactivate(tenant_id, item_id, time.time()):
        raise NotFoundError(f"item {item_id!r} not found")
