"""Interaction ingestion: weights by type, idempotent by event id, each new user counted once, and
events that name a served list logged as its outcomes."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Sequence

from ..attribution.service import Pseudonyms, log_outcomes
from ..billing.metering import CountLimit, metered, take_back, user_limit
from ..billing.store import UsageStore
from ..errors import StoreError
from ..observability import logger
from ..tenancy.model import Tenant
from .model import ACCEPTED, DUPLICATE, NOT_STORED, TYPE_WEIGHTS, EventIn, IngestResult, fingerprint
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
    """Records valid events. New users are reserved against the plan's limit before any write (402),
    but marked seen and counted only once one of their events has landed; the reservation of the
    others is released. What became of each event is in the result's `outcomes`. `ttl_s`: the
    tenant's interaction TTL; each event then expires `ttl_s` after its timestamp."""
    now = time.time()
    prepared = []
    for event in events:
        sent = event.as_dict()
        weight = event.value
        prepared.append({**sent, "event_id": event.event_id or uuid.uuid4().hex, "dedupe": bool(event.event_id),
                         "fingerprint": fingerprint(sent), "timestamp": event.timestamp or now,
                         "weight": float(weight) if weight is not None else TYPE_WEIGHTS[event.type]})
        if ttl_s:
            prepared[-1]["expires_at"] = int(prepared[-1]["timestamp"]) + ttl_s
    unseen: list[str] = []
    if users is not None:
        unseen = seen.unseen_users(tenant_id, sorted({e["user_id"] for e in prepared if e.get("user_id")}))
        users.reserve(len(unseen))
    try:
        outcomes = store.append(tenant_id, prepared)
    except BaseException:
        if users is not None:
            users.release(len(unseen))
        raise
    accepted = [e["event_id"] for e, o in zip(prepared, outcomes) if o == ACCEPTED]
    log_outcomes(pseudonyms, tenant_id, [e for e, o in zip(prepared, outcomes) if o == ACCEPTED], set(accepted))
    landed = {e["user_id"] for e, o in zip(prepared, outcomes) if o in (ACCEPTED, DUPLICATE) and e.get("user_id")}
    if users is not None:
        _count_landed_users(seen, tenant_id, [u for u in unseen if u in landed], users, len(unseen), now)
    duplicates = [e["event_id"] for e, o in zip(prepared, outcomes) if o == DUPLICATE]
    in_history = [e["event_id"] for e, o in zip(prepared, outcomes) if o in (ACCEPTED, DUPLICATE)]
    return IngestResult(len(accepted), len(duplicates), in_history, duplicates, outcomes,
                        [e["event_id"] for e in prepared])


def _count_landed_users(seen: SeenUserStore, tenant_id: str, landed: list[str], users: CountLimit, reserved: int,
                        now: float) -> None:
    """Marks the users whose events landed as seen; of the `reserved` count, keeps only those this call
    marked. A marker that could not be written fails the call (StoreError, a 503): the events are
    stored, and the client's retry finds them duplicates, the user still unseen, and counts it."""
    results = seen.mark_users_seen(tenant_id, landed, now)
    counted = sum(1 for r in results if r is True)
    users.release(reserved - counted)
    failed = sum(1 for r in results if isinstance(r, Exception))
    if failed:
        logger.warning("seen-user markers not written; the call fails so that its retry counts those users",
                       extra={"tenant_id": tenant_id, "users": failed})
        raise StoreError(f"{failed} new users could not be recorded; the events are stored, send them again")


@dataclass(frozen=True)
class IngestDeps:
    interactions: InteractionStore
    seen_users: SeenUserStore
    pseudonyms: Pseudonyms
    usage: UsageStore


def ingest(deps: IngestDeps, tenant: Tenant, events: Sequence[EventIn], request_id: str | None) -> IngestResult:
    """The interactions route: one metered call (counted once per `request_id`, API Gateway's; taken
    back if it fails, or if some events could not be stored: that call is answered 503 and its retry is
    the call billed), new users counted against the plan's limit, the events recorded."""
    with metered(deps.usage, tenant, request_id) as mark:
        result = record_interactions(deps.interactions, deps.seen_users, deps.pseudonyms, tenant.tenant_id, events,
                                     users=user_limit(deps.usage, tenant), ttl_s=tenant.interaction_ttl_s)
    if NOT_STORED in result.outcomes:
        take_back(deps.usage, tenant, mark)
    logger.info("interactions recorded", extra={"tenant_id": tenant.tenant_id, "accepted": result.accepted,
                                                "duplicates": result.duplicates})
    return result
