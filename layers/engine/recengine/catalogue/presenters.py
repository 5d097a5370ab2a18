"""The wire formats of catalogue answers: canonical /v1, and the RecommendAI dialect of /api/items."""

from __future__ import annotations

from ..http.batches import Batch, batch_status, nothing_accepted
from ..http.problems import ServiceUnavailable
from ..billing.periods import iso
from .model import Item, ItemPage, NumberedPage, UpsertResult


SEED_OFFER_NAMES = {"start_at": "startAt", "end_at": "endAt"}


def item_body(item: Item) -> dict:
    """An item; its decisioning fields (channels, placements, start_at, end_at, priority, value,
    creatives) at the top level, those it declares only."""
    return {"id": item.id, "metadata": item.metadata, "active": item.active, "created_at": item.created_at,
            "updated_at": item.updated_at, **item.offer}


def seed_item_body(item: Item, tenant_id: str) -> dict:
    """An item as the RecommendAI dialect shows it: camelCase, ISO-8601 times, the tenant named."""
    return {"id": item.id, "tenantId": tenant_id, "metadata": item.metadata, "isActive": item.active,
            "createdAt": iso(item.created_at), "updatedAt": iso(item.updated_at),
            **{SEED_OFFER_NAMES.get(k, k): v for k, v in item.offer.items()}}


def seed_page_body(page: NumberedPage, tenant_id: str) -> dict:
    return {"data": [seed_item_body(i, tenant_id) for i in page.items], "total": page.total, "page": page.page,
            "pageSize": page.page_size}


def page_body(page: ItemPage) -> dict:
    return {"items": [item_body(i) for i in page.items], "next_cursor": page.next_cursor}


def upsert_body(result: UpsertResult, rejected: list[dict] | None = None) -> dict:
    return {"created": result.created, "updated": result.updated, "ids": result.ids,
            **({"rejected": rejected} if rejected else {})}


def upsert_answer(result: UpsertResult | None, batch: Batch) -> tuple[int, dict]:
    """(status, body) of POST /v1/items (see responses.UpsertItemsResponse); raises the problem when no
    entry was valid (422) or some valid ones could not be stored (503 naming them)."""
    if result is None:
        raise nothing_accepted(batch.rejected)
    if result.not_stored:
        index = {draft.id: n for n, draft in batch.entries}
        raise ServiceUnavailable(
            f"{len(result.not_stored)} items could not be stored; send them again", headers={"Retry-After": "1"},
            extra={"not_stored": [{"index": index[i], "id": i} for i in result.not_stored], "stored_ids": result.ids,
                   **({"rejected": batch.rejected} if batch.rejected else {})})
    return batch_status(200, batch.rejected), upsert_body(result, batch.rejected)
