"""The /v1 wire format of catalogue answers."""

from __future__ import annotations

from .model import Item, ItemPage, UpsertResult


def item_body(item: Item) -> dict:
    return {"id": item.id, "metadata": item.metadata, "active": item.active, "created_at": item.created_at,
            "updated_at": item.updated_at}


def page_body(page: ItemPage) -> dict:
    return {"items": [item_body(i) for i in page.items], "next_cursor": page.next_cursor}


def upsert_body(result: UpsertResult) -> dict:
    return {"created": result.created, "updated": result.updated, "ids": result.ids}
