"""The wire formats of interaction answers: canonical /v1, and the RecommendAI dialect of one event."""

from __future__ import annotations

import time

from ..billing.periods import iso
from ..http.batches import Batch, batch_status, nothing_accepted
from ..http.problems import ServiceUnavailable
from .model import ACCEPTED, CONFLICT, NOT_STORED, IngestResult


def _conflict(field: str, index: int, event_id: str) -> dict:
    return {"index": index, "errors": [{"field": f"{field}.{index}.event_id", "code": "conflict",
                                        "message": f"event id {event_id!r} was already used for a different event"}]}


def ingest_answer(result: IngestResult | None, batch: Batch, field: str = "interactions") -> tuple[int, dict]:
    """(status, body) of POST /v1/interactions (see responses.InteractionsResponse); raises the problem
    when nothing was valid (422, or 409 when every entry was a conflict) or some valid events could not
    be stored (503 naming them: a pending claim makes their retry complete them)."""
    rejected = list(batch.rejected)
    if result is not None:
        positions = [index for index, _ in batch.entries]
        rejected += [_conflict(field, positions[n], result.ids[n]) for n, o in enumerate(result.outcomes)
                     if o == CONFLICT]
        rejected.sort(key=lambda r: r["index"])
    accepted = [result.ids[n] for n, o in enumerate(result.outcomes) if o == ACCEPTED] if result else []
    body = {"accepted": len(accepted), "duplicates": result.duplicates if result else 0,
            "event_ids": result.event_ids if result else [], "accepted_event_ids": accepted,
            "duplicate_event_ids": result.duplicate_event_ids if result else []}
    not_stored = [{"index": positions[n], "id": result.ids[n]} for n, o in enumerate(result.outcomes)
                  if o == NOT_STORED] if result else []
    if not_stored:
        raise ServiceUnavailable(f"{len(not_stored)} events could not be stored; send them again",
                                 headers={"Retry-After": "1"},
                                 extra={"not_stored": not_stored, "stored_ids": accepted,
                                        **({"rejected": rejected} if rejected else {})})
    if not body["event_ids"]:
        raise nothing_accepted(rejected)
    ok = 201 if body["accepted"] else 200
    return batch_status(ok, rejected), {**body, **({"rejected": rejected} if rejected else {})}


def recommendai_answer(result: IngestResult | None, batch: Batch) -> tuple[int, dict]:
    """One event in the RecommendAI dialect: 201 `{success, interactionId, timestamp}` (200 for a repeat
    of an event id already recorded); refusals are the same problems as on /v1."""
    status, body = ingest_answer(result, batch)
    (_, event), = batch.entries
    stamp = event.to_event().timestamp or time.time()
    return status, {"success": True, "interactionId": body["event_ids"][0], "timestamp": iso(stamp)}
