"""User erasure (right to be forgotten): `DELETE /v1/users/{user_id}` records an erasure job and
hands it to the erasure worker's queue; the worker deletes, for that tenant only, everything that
holds the user: the history, the event-id claims and session rows of the user's events, the
exposures under the user's (and those sessions') pseudonymous keys, the seen-user marker (the
plan's user count goes down with it, in one transaction), the precomputed lists, and the user's
lines in every version of the batch outputs in S3. The tenant's next scheduled training then runs
and reads only what is left.

Every step is idempotent, so an erasure that failed half-way is finished by its redelivery, and
erasing an unknown or already erased user succeeds with nothing to delete. The job row holds the
user id only while it runs: it is removed in the same write that records success."""

from __future__ import annotations

import secrets
import string
import time
from dataclasses import asdict, dataclass
from typing import Callable

from ..analytics.counters import DailyCounterStore
from ..attribution.service import Pseudonyms
from ..attribution.store import ExposureStore
from ..batch.outputs import BatchOutputStore
from ..billing.store import UsageStore
from ..errors import NotFoundError
from ..events.store import InteractionStore
from ..events.users import SeenUserStore
from ..models.job_status import ACTIVE, JobTimeouts, check_job, get_job, tenant_jobs
from ..models.job_store import JobStore
from ..models.markers import TrainedMarkerStore
from ..observability import count, logger
from ..ranking.stored_lists import PrecomputedListStore

KIND = "erase"
Launcher = Callable[[str, str], None]  # (tenant_id, job_id): hands the job to the erasure worker's queue


class ErasureDeferredError(RuntimeError):
    """A batch job of the tenant is queued or running and may still write the user's list: the
    erasure waits for it (its message is redelivered) instead of racing it."""


def new_erasure_job_id() -> str:
    return "erase-" + "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(16))


def status_url(job_id: str) -> str:
    return f"/v1/users/erasures/{job_id}"


@dataclass(frozen=True)
class ErasureStores:
    """Everything an erasure deletes from, and the job rows it reports on."""

    interactions: InteractionStore
    seen_users: SeenUserStore
    usage: UsageStore
    exposures: ExposureStore
    pseudonyms: Pseudonyms
    lists: PrecomputedListStore
    outputs: BatchOutputStore
    jobs: JobStore
    markers: TrainedMarkerStore
    daily: DailyCounterStore | None = None  # analytics' active-day markers, under the user's pseudonymous key


@dataclass(frozen=True)
class ErasedTotals:
    """What one erasure deleted, as recorded on its job row (schemas.ErasedCounts is its wire form)."""

    history_rows: int = 0
    event_claims: int = 0
    session_rows: int = 0
    exposures: int = 0
    stored_lists: int = 0
    batch_objects_rewritten: int = 0
    batch_versions_deleted: int = 0
    batch_lines_removed: int = 0
    user_uncounted: bool = False


def job_view(job: dict) -> dict:
    """The job as the API shows it: never the user id."""
    return {k: v for k, v in job.items() if k not in ("user_id", "tenant_id")}


def start_erasure_job(jobs: JobStore, launch: Launcher, tenant_id: str, user_id: str, *,
                      now: float | None = None) -> dict:
    """Records a queued erasure job and launches it. Erasures are not exclusive: two for the same
    user both complete (the second finds less or nothing to delete). A launch that fails leaves the
    job `failed` and raises (the caller retries the DELETE)."""
    now = time.time() if now is None else now
    job = {"job_id": new_erasure_job_id(), "kind": KIND, "status": "queued", "created_at": now, "user_id": user_id}
    jobs.put_job(tenant_id, job)
    try:
        launch(tenant_id, job["job_id"])
    except Exception:
        jobs.finish(tenant_id, job["job_id"], ("queued",), {"status": "failed", "finished_at": time.time(),
                                                            "error": "the erasure could not be started",
                                                            "user_id": None})
        logger.exception("erasure job could not be started", extra={"tenant_id": tenant_id, "job_id": job["job_id"]})
        raise
    logger.info("erasure job queued", extra={"tenant_id": tenant_id, "job_id": job["job_id"]})
    return job_view(job)


def get_erasure_job(jobs: JobStore, tenant_id: str, job_id: str, timeouts: JobTimeouts) -> dict:
    """The tenant's erasure job, checked for a timeout; NotFoundError for any other id."""
    job = get_job(jobs, tenant_id, job_id, timeouts=timeouts)
    if job is None or job.get("kind") != KIND:
        raise NotFoundError(f"erasure job {job_id!r} not found")
    return job_view(job)


def _event_id(row: dict) -> str:
    return row.get("event_id") or row["sk"].split("#", 1)[-1]


def _erase_events(stores: ErasureStores, tenant_id: str, user_id: str, erased: dict) -> None:
    """The DynamoDB side, counted into `erased` step by step. What names other rows (the history) is
    deleted last, so that a retry after a failure half-way finds the same event ids and sessions again."""
    interactions = stores.interactions
    history = interactions.user_history(tenant_id, user_id)
    event_ids = [_event_id(r) for r in history]
    sessions: dict[str, list[dict]] = {}
    for session_id in sorted({r["session_id"] for r in history if r.get("session_id")}):
        # The session's anonymous events are the user's too; another user's events in it are not.
        rows = [r for r in interactions.session_events(tenant_id, session_id) if r.get("user_id") in (None, user_id)]
        sessions[session_id] = rows
        event_ids += [_event_id(r) for r in rows]
    keys = {stores.pseudonyms.user_key(tenant_id, user_id, None)}
    keys |= {stores.pseudonyms.user_key(tenant_id, None, s) for s in sessions}
    erased["exposures"] = sum(stores.exposures.delete_user(tenant_id, k) for k in sorted(keys - {None}))
    erased["event_claims"] = interactions.delete_event_claims(tenant_id, event_ids)
    erased["session_rows"] = sum(interactions.delete_session_rows(tenant_id, s, [r["sk"] for r in rows])
                                 for s, rows in sessions.items())
    erased["history_rows"] = interactions.delete_user_rows(tenant_id, user_id, [r["sk"] for r in history])
    erased["user_uncounted"] = stores.seen_users.forget_user(tenant_id, user_id,
                                                             stores.usage.release_item(tenant_id, "users", 1))


def _batch_job_running(stores: ErasureStores, tenant_id: str, timeouts: JobTimeouts) -> str | None:
    for job in tenant_jobs(stores.jobs, tenant_id, "batch"):
        if check_job(stores.jobs, tenant_id, job, timeouts=timeouts).get("status") in ACTIVE:
            return job["job_id"]
    return None


def erase_user(stores: ErasureStores, tenant_id: str, user_id: str, *, timeouts: JobTimeouts,
               erased: dict | None = None) -> dict:
    """Erases the user from every store of the tenant; returns what was deleted (ErasedTotals'
    fields), counted into `erased` as it goes, so that an attempt that stops still says what it did.
    ErasureDeferredError, after the history is gone, while a batch job of the tenant may still
    write the user's precomputed list."""
    erased = {} if erased is None else erased
    _erase_events(stores, tenant_id, user_id, erased)
    running = _batch_job_running(stores, tenant_id, timeouts)
    if running:
        raise ErasureDeferredError(f"waiting for batch job {running} to finish before erasing stored lists")
    erased["stored_lists"] = stores.lists.delete_user_lists(tenant_id, user_id)
    scrub = stores.outputs.erase_user(tenant_id, user_id)
    erased.update({"batch_objects_rewritten": scrub.objects_rewritten, "batch_versions_deleted":
                   scrub.versions_deleted, "batch_lines_removed": scrub.lines_removed})
    if stores.daily is not None:
        stores.daily.forget_user(tenant_id, stores.pseudonyms.user_key(tenant_id, user_id, None), time.time())
    stores.markers.mark_stale(tenant_id)  # the next scheduled training reads what is left
    return erased


def forget_in_ended_jobs(jobs: JobStore, tenant_id: str, user_id: str) -> int:
    """Removes the user id from the tenant's ended erasure jobs of that user (a job that failed for
    good keeps it, for its retry), once a later erasure of the user has succeeded; returns how many."""
    ended = [j for j in tenant_jobs(jobs, tenant_id, KIND) if j.get("user_id") == user_id
             and j.get("status") not in ACTIVE]
    for job in ended:
        jobs.finish(tenant_id, job["job_id"], (str(job["status"]),), {"user_id": None})
    return len(ended)


def run_erasure_job(stores: ErasureStores, tenant_id: str, job_id: str, *, timeouts: JobTimeouts) -> dict:
    """Runs (or, after a failure or a deferral, runs again) one erasure job and records the outcome
    on its row. A job that has already succeeded is left alone (an at-least-once redelivery).
    Raises when the erasure failed or was deferred, so that the queue redelivers the message."""
    jobs = stores.jobs
    job = jobs.get_job(tenant_id, job_id)
    if job is None or job.get("kind") != KIND:
        raise NotFoundError(f"erasure job {job_id!r} not found")
    if job.get("status") == "succeeded" or not job.get("user_id"):
        logger.info("erasure job already done; ignoring the repeat", extra={"tenant_id": tenant_id, "job_id": job_id})
        return job_view(job)
    now = time.time()
    if not jobs.transition(tenant_id, job_id, ("queued", "running", "failed"),
                           {"status": "running", "started_at": now, "progress_at": now}):
        return job_view(jobs.get_job(tenant_id, job_id) or job)
    erased: dict = {}
    try:
        erase_user(stores, tenant_id, str(job["user_id"]), timeouts=timeouts, erased=erased)
    except ErasureDeferredError as exc:
        jobs.update_job(tenant_id, job_id, {"detail": str(exc), "progress_at": time.time(),
                                            "erased": merge_counts(job.get("erased"), erased)})
        count("ErasureDeferred")
        logger.info("erasure deferred", extra={"tenant_id": tenant_id, "job_id": job_id, "detail": str(exc)})
        raise
    except Exception as exc:
        jobs.transition(tenant_id, job_id, ("running",), {
            "status": "failed", "finished_at": time.time(), "erased": merge_counts(job.get("erased"), erased),
            "error": f"erasure failed ({type(exc).__name__}); the queue retries it, or DELETE the user again"})
        raise
    counts = merge_counts(job.get("erased"), erased)
    jobs.finish(tenant_id, job_id, ("running", "failed"), {"status": "succeeded", "finished_at": time.time(),
                                                           "erased": counts, "detail": None, "error": None,
                                                           "user_id": None})
    forget_in_ended_jobs(jobs, tenant_id, str(job["user_id"]))
    count("UsersErased")
    logger.info("user erased", extra={"tenant_id": tenant_id, "job_id": job_id, **counts})
    return job_view(jobs.get_job(tenant_id, job_id) or {})


def merge_counts(earlier: dict | None, erased: dict) -> dict:
    """What every attempt of the job deleted (an attempt deferred, then the one that finished)."""
    total = asdict(ErasedTotals(**erased))
    for name, value in (earlier or {}).items():
        if name in total:
            total[name] = (bool(total[name]) or bool(value)) if isinstance(total[name], bool) \
                else int(total[name]) + int(value)
    return total
