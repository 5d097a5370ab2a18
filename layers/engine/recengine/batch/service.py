"""Batch generation: precomputed recommendations for a tenant's users, planned as chunks of users,
each chunk processed idempotently (same S3 part, same rows), so a retried chunk adds nothing. A
tenant has at most one batch job queued or running (a claim on its batch lock), starts at most its
plan's number a day on request, and a segment naming users never seen counts them against the plan's
user limit, as ingestion would."""

from __future__ import annotations

import json
import secrets
import string
import time
from typing import Callable, Sequence

from ..billing.metering import CountLimit
from ..billing.periods import plan_of
from ..errors import NotFoundError, StoreError
from ..events.service import count_new_users
from ..events.store import InteractionStore
from ..events.users import SeenUserStore
from ..models.artefacts import ArtefactStore
from ..models.job_claims import claim, count_against_quota, release
from ..models.job_status import JobTimeouts, get_job
from ..models.job_store import JobStore
from ..observability import logger
from ..ranking.serve import Deps, recommend
from ..ranking.stored_lists import PrecomputedListStore
from ..tenancy.model import Tenant

RETRY_WARNINGS = {"history_unavailable"}  # a list ranked without what it needs is not stored
DEFAULT_CHUNK_USERS = 500  # users per chunk: one history query + one ranking each, per SQS message
Dispatcher = Callable[[list[dict]], None]  # sends chunk messages to the workers


def new_batch_job_id() -> str:
    return "batch-" + "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(16))


def output_prefix(tenant_id: str, job_id: str) -> str:
    return f"tenants/{tenant_id}/batch/{job_id}/"


def part_key(tenant_id: str, job_id: str, chunk: int) -> str:
    return f"{output_prefix(tenant_id, job_id)}part-{chunk:05d}.jsonl"


KIND = "batch"


def status_url(job_id: str) -> str:
    return f"/v1/recommendations/jobs/{job_id}"


def start_batch_job(jobs: JobStore, interactions: InteractionStore, dispatch: Dispatcher, tenant: Tenant, *,
                    algorithm: str, count: int, timeouts: JobTimeouts, user_ids: Sequence[str] | None = None,
                    seen: SeenUserStore | None = None, users_limit: CountLimit | None = None, trigger: str = "api",
                    chunk_users: int = DEFAULT_CHUNK_USERS, bucket: str = "", now: float | None = None) -> dict:
    """Plans the job (the segment's users, or all users with events, in chunks) and fans the chunks
    out. Asked for (`trigger` "api"), it counts against the plan's daily batch jobs (429 past them);
    a segment's unseen users count against the user limit (402 past it, before anything is written);
    JobInProgressError (409) while another batch job of the tenant is queued or running."""
    tenant_id = tenant.tenant_id
    now = time.time() if now is None else now
    day = count_against_quota(jobs, tenant_id, KIND, plan_of(tenant).daily_batch_jobs, now) if trigger == "api" \
        else None
    job_id = new_batch_job_id()
    try:
        claim(jobs, tenant_id, KIND, job_id, timeouts=timeouts, status_url=status_url, now=now)
    except Exception:
        if day is not None:
            jobs.uncount_daily(tenant_id, KIND, day)
        raise
    try:
        users = sorted(set(user_ids)) if user_ids is not None else interactions.tenant_user_ids(tenant_id)
        if user_ids is not None and seen is not None and users_limit is not None:
            count_new_users(seen, tenant_id, set(users), users_limit, now)
        chunks = [users[i:i + chunk_users] for i in range(0, len(users), chunk_users)]
        job = {"job_id": job_id, "kind": KIND, "status": "queued" if chunks else "succeeded", "algorithm": algorithm,
               "count": count, "total_users": len(users), "chunks": len(chunks), "created_at": now,
               "trigger": trigger, "output": f"s3://{bucket}/{output_prefix(tenant_id, job_id)}"}
        jobs.put_job(tenant_id, job)
        dispatch([{"tenant_id": tenant_id, "job_id": job_id, "chunk": n, "user_ids": chunk}
                  for n, chunk in enumerate(chunks)])
    except Exception:
        jobs.transition(tenant_id, job_id, ("queued",), {"status": "failed", "error": "the chunks could not be queued"})
        release(jobs, tenant_id, KIND, job_id)
        if day is not None:
            jobs.uncount_daily(tenant_id, KIND, day)
        raise
    if not chunks:
        release(jobs, tenant_id, KIND, job_id)
    logger.info("batch job queued", extra={"tenant_id": tenant_id, "job_id": job_id, "users": len(users),
                                           "chunks": len(chunks)})
    return jobs.get_job(tenant_id, job_id) or job


def process_chunk(ranking: Deps, jobs: JobStore, lists: PrecomputedListStore, artefacts: ArtefactStore,
                  message: dict) -> str:
    """Computes one chunk: its JSONL part in S3 and one precomputed row per user, then marks it done.
    Returns "done", or "skipped" when that chunk had already been finished (a redelivery)."""
    tenant_id, job_id, chunk = message["tenant_id"], message["job_id"], int(message["chunk"])
    job = jobs.get_job(tenant_id, job_id)
    if job is None:
        raise NotFoundError(f"batch job {job_id!r} not found")
    done_chunks = {int(c) for c in job.get("done_chunks") or ()}
    if chunk in done_chunks:
        # A redelivery. The invocation that finished this chunk may have stopped (its Lambda timed
        # out) between marking it done and finishing the job: whoever sees every chunk done finishes it.
        _finish_if_complete(jobs, tenant_id, job_id, len(done_chunks), int(job["chunks"]))
        return "skipped"
    if job.get("status") == "queued":  # the first chunk to start moves it; the others find it running
        jobs.transition(tenant_id, job_id, ("queued",), {"status": "running", "started_at": time.time()})
    now = time.time()
    computed = []
    for user_id in message["user_ids"]:
        result = recommend(ranking, tenant_id, user_id=user_id, session_id=None, limit=int(job["count"]),
                           algorithm=job["algorithm"])
        if any(w["code"] in RETRY_WARNINGS for w in result.warnings):
            # A live request is better served without its history than not at all; a stored list
            # would keep that gap until the next batch: the chunk fails and SQS delivers it again.
            raise StoreError(f"batch chunk {chunk}: a user's history could not be read; the chunk is retried")
        computed.append({"user_id": user_id, "algorithm": job["algorithm"], "items": result.items,
                         "model_id": result.model_id, "source": result.source, "job_id": job_id,
                         "generated_at": now})
    body = "".join(json.dumps(row, sort_keys=True) + "\n" for row in computed).encode()
    artefacts.put_object(part_key(tenant_id, job_id, chunk), body)  # same key on a retry: replaced
    lists.put_lists(tenant_id, computed)
    done = jobs.mark_chunk_done(tenant_id, job_id, chunk)
    _finish_if_complete(jobs, tenant_id, job_id, done, int(job["chunks"]))
    logger.info("batch chunk done", extra={"tenant_id": tenant_id, "job_id": job_id, "chunk": chunk,
                                           "users": len(computed), "chunks_done": done})
    return "done"


def _finish_if_complete(jobs: JobStore, tenant_id: str, job_id: str, done: int, chunks: int) -> None:
    """Marks the job succeeded and frees its lock once every chunk is done (both idempotent)."""
    if done >= chunks:
        jobs.transition(tenant_id, job_id, ("queued", "running"), {"status": "succeeded", "finished_at": time.time()})
        release(jobs, tenant_id, KIND, job_id)


def get_batch_job(jobs: JobStore, tenant_id: str, job_id: str, timeouts: JobTimeouts) -> dict:
    """The tenant's batch job, checked for a timeout (a job whose workers died stays `running` in its
    row: it is reported, and recorded, as timed out); NotFoundError for any other id."""
    job = get_job(jobs, tenant_id, job_id, timeouts=timeouts)
    if job is None or job.get("kind") != "batch":
        raise NotFoundError(f"batch job {job_id!r} not found")
    return job


def job_view(job: dict) -> dict:
    """The job with its progress (chunks done / chunks)."""
    done = len(job.get("done_chunks") or ())
    chunks = int(job.get("chunks", 0))
    out = {k: v for k, v in job.items() if k not in ("done_chunks", "tenant_id")}
    out.update({"chunks_done": done, "progress": round(done / chunks, 4) if chunks else 1.0})
    return out


def inline_dispatcher(process: Callable[[dict], str]) -> Dispatcher:
    """Tests and the local stack: each chunk is processed in-process, in order, before the 202. A
    failing chunk is logged and recorded on the job, which stays `running` (no queue to retry it)."""

    def dispatch(messages: list[dict]) -> None:
        for message in messages:
            try:
                process(message)
            except Exception:  # noqa: BLE001 - recorded on the job row; the 202 still stands
                logger.exception("batch chunk failed", extra={"job_id": message["job_id"], "chunk": message["chunk"]})
                return

    return dispatch
