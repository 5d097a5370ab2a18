"""Catalogue items: upsert, list, get, deactivate."""

from __future__ import annotations

import time
from typing import Sequence

from ..billing.metering import CountLimit
from ..errors import InvalidArgumentError, NotFoundError
from .model import Item, ItemDraft, ItemPage, NumberedPage, UpsertResult
from .store import ItemStore


def upsert_items(store: ItemStore, tenant_id: str, drafts: Sequence[ItemDraft], limit: CountLimit | None = None
                 ) -> UpsertResult:
    """Creates or updates items (ids unique). With a plan `limit`, new items are counted exactly (each
    is created by a conditional put) and a batch that would pass the limit is refused (402) before any
    write. An item the store could not write is in `not_stored`, and is not counted."""
    now = time.time()
    items = [d.as_row() for d in drafts]
    existing = store.get_many(tenant_id, (i["id"] for i in items))
    fresh = [i for i in items if i["id"] not in existing]
    failed: set[str] = set()
    if limit is None:
        failed |= store.write_items(tenant_id, items, existing, now)
        created = sum(1 for i in fresh if i["id"] not in failed)
    else:
        limit.reserve(len(fresh))
        try:
            results = store.insert_absent(tenant_id, fresh, now)
        except BaseException:
            limit.release(len(fresh))
            raise
        created = sum(1 for r in results if r is True)
        limit.release(len(fresh) - created)  # created by a concurrent call meanwhile, or failed
        failed |= {i["id"] for i, r in zip(fresh, results) if isinstance(r, Exception)}
        raced = [i for i, r in zip(fresh, results) if r is False]
        if raced:
            failed |= store.upsert(tenant_id, raced, now)
        failed |= store.write_items(tenant_id, [i for i in items if i["id"] in existing], existing, now)
    stored = [i["id"] for i in items if i["id"] not in failed]
    return UpsertResult(created, len(stored) - created, stored, [i["id"] for i in items if i["id"] in failed])


def list_items(store: ItemStore, tenant_id: str, limit: int, cursor: str | None, search: str | None) -> ItemPage:
    """One page in id order; InvalidArgumentError for a cursor that is not this tenant's."""
    rows, next_cursor = store.page(tenant_id, limit, cursor, search)
    return ItemPage([Item.from_row(r) for r in rows], next_cursor)


MAX_NUMBERED = 10_000  # page x pageSize past this: the cursor pages of /v1/items go anywhere


def numbered_page(store: ItemStore, tenant_id: str, page: int, page_size: int, search: str | None) -> NumberedPage:
    """Page `page` (from 1) of `page_size` items in id order, and how many items match in all. A page
    number needs every row before it and a total needs them all: one pass over the tenant's rows,
    so the depth is capped (MAX_NUMBERED); /v1/items pages by cursor at any depth."""
    if page * page_size > MAX_NUMBERED:
        raise InvalidArgumentError(f"page x pageSize may not exceed {MAX_NUMBERED}; "
                                   "GET /v1/items pages through any catalogue with cursors")
    needle = search.lower() if search else None
    start, total, items = (page - 1) * page_size, 0, []
    for row in store.iter_items(tenant_id):
        if needle is not None and not store.matches(row, needle):
            continue
        if start <= total < start + page_size:
            items.append(Item.from_row(row))
        total += 1
    return NumberedPage(items, total, page, page_size)


def get_item(store: ItemStore, tenant_id: str, item_id: str) -> Item:
    row = store.get(tenant_id, item_id)
    if row is None:
        raise NotFoundError(f"item {item_id!r} not found")
    return Item.from_row(row)


def deactivate_item(store: ItemStore, tenant_id: str, item_id: str) -> None:
    if not store.deactivate(tenant_id, item_id, time.time()):
        raise NotFoundError(f"item {item_id!r} not found")
