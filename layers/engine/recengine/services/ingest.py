"""Interaction ingestion: weights by type, idempotent by event id."""

from __future__ import annotations

import time
import uuid

from ..stores.dynamo import InteractionStore

# Default confidence weight of each interaction type; a caller's `value` overrides it.
TYPE_WEIGHTS: dict[str, float] = {"view": 1.0, "click": 2.0, "like": 4.0, "add_to_cart": 6.0, "purchase": 8.0}


def record_interactions(store: InteractionStore, tenant_id: str, events: list[dict]) -> dict:
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
    accepted, duplicates = store.append(tenant_id, prepared)
    return {"accepted": len(accepted), "duplicates": len(duplicates), "event_ids": [e["event_id"] for e in prepared],
            "duplicate_event_ids": duplicates}
