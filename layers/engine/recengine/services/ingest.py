"""Interaction ingestion: weights by type, idempotent by event id."""

from __future__ import annotations

import time
import uuid

from ..stores.dynamo import InteractionStore
from .billing import CountLimit

# Default confidence weight of each interaction type; a caller's `value` overrides it.
TYPE_WEIGHTS: dict[str, float] = {"view": 1.0, "click": 2.0, "like": 4.0, "add_to_cart": 6.0, "purchase": 8.0}


def count_new_users(store: InteractionStore, tenant_id: str, user_ids: set[str], limit: CountLimit, now: float) -> int:
    """Counts each user the tenant has never sent before, exactly once (a conditional put of a
    seen-user marker per new user); refuses (402) before writing when the plan's limit would be passed."""
    unseen = store.unseen_users(tenant_id, sorted(user_ids))
    limit.reserve(len(unseen))
    results = store.mark_users_seen(tenant_id, unseen, now)
    counted = sum(1 for r in results if r is True)
    limit.release(len(unseen) - counted)  # marked by a concurrent call meanwhile, or failed
    failed = [r for r in results if isinstance(r, Exception)]
    if failed:
        raise failed[0]
    return counted


def record_interactions(store: InteractionStore, tenant_id: str, events: list[dict],
                        users: CountLimit | None = None) -> dict:
    now = time.time()
    prepared, generated = [], set()
    for event in events:
        event_id = event.get("event_id")
        if not event_id:
            event_id = uuid.uuid4().hex
            generated.add(event_id)
        weight = event.get("value")
        prepared.append({**event, "event_id": event_id, "dedupe": event_id not in generated,
                         "timestamp": event.get("timestamp") or now,
                         "weight": float(weight) if weight is not None else TYPE_WEIGHTS[event["type"]]})
    if users is not None:
        count_new_users(store, tenant_id, {e["user_id"] for e in prepared if e.get("user_id")}, users, now)
    accepted, duplicates = store.append(tenant_id, prepared)
    from .attribution import log_outcomes

    log_outcomes(tenant_id, prepared, set(accepted))
    return {"accepted": len(accepted), "duplicates": len(duplicates), "event_ids": [e["event_id"] for e in prepared],
            "duplicate_event_ids": duplicates}
