"""Interaction ingestion: weights by type, idempotent by event id, each new user counted once, and
events that name a served list logged as its outcomes."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ..analytics.activity import ActiveToday
from ..analytics.counters import DailyCounterStore, Tally
from ..attribution.service import Pseudonyms, Response, log_outcomes, respond
from ..attribution.store import ExposureStore
from ..billing.metering import CountLimit, metered, metered_beside, user_limit
from ..billing.store import UsageStore
from ..concurrency import gather
from ..errors import StoreError
from ..observability import logger
from ..tenancy.model import Tenant
from .model import ACCEPTED, DUPLICATE, NOT_STORED, EventIn, IngestResult, event_weight, fingerprint
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
                        ttl_s: int | None = None, alongside: Callable[[], Any] | None = None,
                        beside_writes: Callable[[], None] | None = None) -> IngestResult:
    """Records valid events in two round trips (docs/adr/0002-ingest-round-trips.md).

    First, together: `alongside` (the meter), the seen-user read, and a reservation of every user of
    the batch against the plan's limit (most users are known, so it is released at once in the next
    round trip; refused near the limit, it falls back to reserving exactly the unseen ones, a further
    round trip, and 402 before any write). Then, together: the events (each new user's seen marker in
    the transaction of its first event, so it is counted only once one of its events has landed) and
    the release of the surplus. What became of each event is in the result's `outcomes`. `ttl_s`: the
    tenant's interaction TTL; each event then expires `ttl_s` after its timestamp. `beside_writes`:
    another write of the second round trip (the day's active users), which must not raise."""
    now = time.time()
    prepared = []
    for event in events:
        sent = event.as_dict()
        prepared.append({**sent, "event_id": event.event_id or uuid.uuid4().hex, "dedupe": bool(event.event_id),
                         "fingerprint": fingerprint(sent), "timestamp": event.timestamp or now,
                         "weight": event_weight(event.type, event.value)})
        if ttl_s:
            prepared[-1]["expires_at"] = int(prepared[-1]["timestamp"]) + ttl_s
    named = sorted({e["user_id"] for e in prepared if e.get("user_id")}) if users is not None else []
    unseen, reserved, surplus = _admit(seen, tenant_id, named, users, alongside)
    released: list[Any] = []  # the surplus release, issued with the events' writes (same round trip)
    limit = users
    writes = [lambda: released.extend(_together([lambda: limit.release(surplus)]))] \
        if limit is not None and surplus else []
    writes += [beside_writes] if beside_writes is not None else []
    alongside_writes = (lambda: gather(*writes)) if writes else None
    try:
        outcomes, marked = store.append_with(tenant_id, prepared, {u: seen.marker_item(tenant_id, u, now)
                                                                   for u in unseen}, alongside_writes)
    except BaseException:
        if users is not None:  # nothing counted: every reservation back (the surplus unless already released)
            users.release(reserved - (surplus if released and released[0] is None else 0))
        raise
    if released and isinstance(released[0], BaseException):
        raise released[0]  # a StoreError fails the call (503): its retry finds the events duplicates
    accepted = [e["event_id"] for e, o in zip(prepared, outcomes) if o == ACCEPTED]
    log_outcomes(pseudonyms, tenant_id, [e for e, o in zip(prepared, outcomes) if o == ACCEPTED], set(accepted))
    landed = {e["user_id"] for e, o in zip(prepared, outcomes) if o in (ACCEPTED, DUPLICATE) and e.get("user_id")}
    if users is not None:
        _count_landed_users(seen, tenant_id, [u for u in unseen if u in landed and u not in marked], users,
                            len(unseen) - len(marked), now)
    duplicates = [e["event_id"] for e, o in zip(prepared, outcomes) if o == DUPLICATE]
    in_history = [e["event_id"] for e, o in zip(prepared, outcomes) if o in (ACCEPTED, DUPLICATE)]
    return IngestResult(len(accepted), len(duplicates), in_history, duplicates, outcomes,
                        [e["event_id"] for e in prepared])


def _admit(seen: SeenUserStore, tenant_id: str, named: list[str], users: CountLimit | None,
           alongside: Callable[[], Any] | None) -> tuple[list[str], int, int]:
    """The first round trip: `alongside`, the seen-user read and the reservation of every named user,
    concurrently. Returns the unseen users, what is reserved, and the surplus to release (reserved
    users that were seen already). Raises, with nothing reserved, when any part failed or the plan's
    limit refuses the unseen users (402)."""
    tasks: list[Callable[[], Any]] = [alongside or (lambda: None)]
    if users is not None and named:
        tasks += [lambda: seen.unseen_users(tenant_id, named), lambda: users.try_reserve(len(named))]
    answers = _together(tasks)
    reserved = len(named) if len(answers) > 2 and answers[2] is True else 0
    problem = next((a for a in answers if isinstance(a, BaseException)), None)
    if problem is not None:
        if reserved and users is not None:
            users.release(reserved)
        raise problem
    unseen: list[str] = answers[1] if len(answers) > 1 else []
    if users is not None and not reserved and unseen:
        users.reserve(len(unseen))  # near the limit: exactly the unseen users, or 402 before any write
        reserved = len(unseen)
    return unseen, reserved, reserved - len(unseen)


_executor: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ingest")
    return _executor


def _together(tasks: list[Callable[[], Any]]) -> list[Any]:
    """Runs the tasks concurrently (one round trip); each answer, or the exception it raised."""
    def run(task: Callable[[], Any]) -> Any:
        try:
            return task()
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller, which raises it
            return exc

    if len(tasks) == 1:
        return [run(tasks[0])]
    futures = [_pool().submit(run, t) for t in tasks[1:]]
    return [run(tasks[0])] + [f.result() for f in futures]


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
    activity: DailyCounterStore | None = None  # the day's active users (analytics)


def ingest(deps: IngestDeps, tenant: Tenant, events: Sequence[EventIn], request_id: str | None) -> IngestResult:
    """The interactions route: one metered call (counted once per `request_id`, API Gateway's, in the
    same round trip as the seen-user read; taken back if the call fails, or if some events could not
    be stored: that call is answered 503 and its retry is the call billed), new users counted against
    the plan's limit, the events recorded and counted in the day's analytics (the events with the meter;
    the day's active users read beside the meter and counted beside the writes). A 402 from the meter
    writes nothing."""
    keys = (deps.pseudonyms.user_key(tenant.tenant_id, e.user_id, None) for e in events if e.user_id)
    active = ActiveToday(deps.activity, tenant.tenant_id, (k for k in keys if k)) \
        if deps.activity is not None else None
    with metered_beside(deps.usage, tenant, request_id, Tally("interactions", len(events))) as meter:
        result = record_interactions(deps.interactions, deps.seen_users, deps.pseudonyms, tenant.tenant_id, events,
                                     users=user_limit(deps.usage, tenant), ttl_s=tenant.interaction_ttl_s,
                                     alongside=meter if active is None else lambda: gather(meter, active.read),
                                     beside_writes=active.mark if active is not None else None)
    if NOT_STORED in result.outcomes:
        meter.take_back()
    logger.info("interactions recorded", extra={"tenant_id": tenant.tenant_id, "accepted": result.accepted,
                                                "duplicates": result.duplicates})
    return result


def record_response(usage: UsageStore, exposures: ExposureStore, tenant: Tenant, interaction_id: str, offer_id: str,
                    outcome: str, value: float | None, request_id: str | None) -> Response:
    """The Respond API: one metered call, as an interaction is (counted once per `request_id`, API
    Gateway's; taken back when the decision or the offer is unknown, or the store fails), recording
    the outcome against its decision (attribution.service.respond)."""
    with metered(usage, tenant, request_id):
        return respond(exposures, tenant.tenant_id, interaction_id, offer_id, outcome, value)
