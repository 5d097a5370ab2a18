"""Interaction ingestion: weights by type, idempotent by event id, each new user counted once, and
events that name a served list logged as its outcomes."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Sequence

from ..attribution.service import Pseudonyms, log_outcomes
from ..billing.metering import CountLimit, metered, user_limit
from ..billing.store import UsageStore
from ..observability import logger
from ..tenancy.model import Tenant
from .model import TYPE_WEIGHTS, EventIn, IngestResult
from .store import InteractionStore
from .users import SeenUserStore


def count_new_users(seen: SeenUserStore, tenant_id: str, user_ids: set[str], limit: CountLimit, now: float) -> int:
    """Counts each user the tenant has never sent before, exactly once (a conditional put of a
    seen-user marker per new user); refuses (402) before writing when the plan's limit would be passed."""
    unseen = seen.unseen_users(tenant_id, sorted(user_ids))
    limit.reserve(len(unseen))
    results = seen.mark_users_seen(tenant_id, unseen, now)
    counted = sum(1 for r in results if r is True)
    limit.release(len(unseen) - counted)  # marked by a concurrent call meanwhile, or failed
    failed = [r for r in results if isinstance(r, Exception)]
    if failed:
        raise failed[0]
    return counted


def record_interactions(store: InteractionStore, seen: SeenUserStore, pseudonyms: Pseudonyms, tenant_id: str,
                        events: Sequence[EventIn], users: CountLimit | None = None,
                        ttl_s: int | None = None) -> IngestResult:
    """`ttl_s`: the tenant's interaction TTL; each event then expires `ttl_s` after its timestamp."""
    now = time.time()
    prepared, generated = [], set()
    for event in events:
        event_id = event.event_id
        if not event_id:
            event_id = uuid.uuid4().hex
            generated.add(event_id)
        weight = event.value
        prepared.append({**event.as_dict(), "event_id": event_id, "dedupe": event_id not in generated,
                         "timestamp": event.timestamp or now,
                         "weight": float(weight) if weight is not None else TYPE_WEIGHTS[event.type]})
        if ttl_s:
            prepared[-1]["expires_at"] = int(prepared[-1]["timestamp"]) + ttl_s
    if users is not None:
        count_new_users(seen, tenant_id, {e["user_id"] for e in prepared if e.get("user_id")}, users, now)
    accepted, duplicates = store.append(tenant_id, prepared)
    log_outcomes(pseudonyms, tenant_id, prepared, set(accepted))
    return IngestResult(len(accepted), len(duplicates), [e["event_id"] for e in prepared], duplicates)


@dataclass(frozen=True)
class IngestDeps:
    interactions: InteractionStore
    seen_users: SeenUserStore
    pseudonyms: Pseudonyms
    usage: UsageStore


def ingest(deps: IngestDeps, tenant: Tenant, events: Sequence[EventIn], request_id: str | None) -> IngestResult:
    """The interactions route: one metered call (counted once per `request_id`, API Gateway's; taken
    back if it fails), new users counted against the plan's limit, the events recorded."""
    with metered(deps.usage, tenant, request_id):
        result = record_interactions(deps.interactions, deps.seen_users, deps.pseudonyms, tenant.tenant_id, events,
                                     users=user_limit(deps.usage, tenant), ttl_s=tenant.interaction_ttl_s)
    logger.info("interactions recorded", extra={"tenant_id": tenant.tenant_id, "accepted": result.accepted,
                                                "duplicates": result.duplicates})
    return result
