"""Jobs that outlive their runner.

A training or batch job is a row that its runner (a Lambda) moves from `queued` to `running` to an
outcome. A Lambda that dies (timeout, out of memory) leaves the row `running` forever, so whoever
reads a job checks it here first: silent past its timeout, it is recorded and reported as failed
("timed out")."""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..observability import logger
from .job_store import JobStore

ACTIVE = ("queued", "running")
TIMED_OUT = "timed out"
# A Lambda runs 15 minutes at most; 5 more minutes of margin before a silent job counts as dead.
DEFAULT_TIMEOUT_S = 1200.0
# The markers that show a job alive, newest wins: the runner's heartbeat or progress stamp, and
# `observed_at`, set here when a reader first sees more batch chunks done than the last reader did.
PROGRESS_FIELDS = ("progress_at", "observed_at")


@dataclass(frozen=True)
class JobTimeouts:
    """How long a job may stay silent: `running_s` since its last sign of life (JOB_TIMEOUT_S),
    `queued_s` since it was created without ever starting (JOB_QUEUED_TIMEOUT_S, default the same)."""

    running_s: float = DEFAULT_TIMEOUT_S
    queued_s: float = DEFAULT_TIMEOUT_S


def _chunks_done(job: dict) -> int:
    return len(job.get("done_chunks") or ())


def last_sign_of_life(job: dict) -> float:
    """When the job last showed it was alive: its newest progress marker, else its start (a
    running job) or creation (a queued one)."""
    base = job.get("started_at") if job.get("status") == "running" else None
    stamps = [float(job[f]) for f in PROGRESS_FIELDS if job.get(f) is not None]
    return max(stamps + [float(base if base is not None else job.get("created_at", 0.0))])


def is_stuck(job: dict, now: float, timeouts: JobTimeouts) -> bool:
    if job.get("status") not in ACTIVE:
        return False
    limit = timeouts.running_s if job.get("status") == "running" else timeouts.queued_s
    if job.get("status") == "running" and job.get("timeout_s"):  # a Spark run: silent until it ends
        limit = max(limit, float(job["timeout_s"]))
    return now - last_sign_of_life(job) > limit


def _observe_chunks(jobs: JobStore, tenant_id: str, job: dict, now: float) -> dict:
    """Batch chunks do not stamp a time when they finish (only the set of done chunks grows), so
    a reader that sees the count move records when it saw it: a job still making progress is
    never failed, whatever its total run time."""
    if job.get("kind") != "batch":
        return job
    done = _chunks_done(job)
    if done == int(job.get("observed_chunks") or 0):
        return job
    fields = {"observed_chunks": done, "observed_at": now}
    jobs.update_job(tenant_id, job["job_id"], fields)
    return {**job, **fields}


def _record_timeout(jobs: JobStore, tenant_id: str, job: dict, now: float) -> bool:
    """Sets the job failed only if the row is still as read (same status, no newer heartbeat, no
    more chunks done): a job that finished or moved meanwhile keeps its own outcome. False when
    the row had changed."""
    idle = round(now - last_sign_of_life(job), 1)
    return jobs.update_job_if_unchanged(
        tenant_id, job["job_id"], {"status": "failed", "error": TIMED_OUT, "finished_at": now, "timed_out_after_s": idle},
        status=job["status"], progress_at=job.get("progress_at"),
        done_chunks=_chunks_done(job) if job.get("kind") == "batch" else None)


def check_job(jobs: JobStore, tenant_id: str, job: dict, *, timeouts: JobTimeouts | None = None,
              now: float | None = None) -> dict:
    """The job as it stands: one silent past its timeout is first recorded as failed ("timed out")."""
    if job.get("status") not in ACTIVE:
        return job
    timeouts = timeouts or JobTimeouts()
    now = time.time() if now is None else now
    job = _observe_chunks(jobs, tenant_id, job, now)
    if not is_stuck(job, now, timeouts):
        return job
    if _record_timeout(jobs, tenant_id, job, now):
        jobs.release_lock(tenant_id, job.get("kind", "train"), job["job_id"])  # a dead job holds nothing
        logger.warning("job timed out", extra={"tenant_id": tenant_id, "job_id": job["job_id"],
                                               "kind": job.get("kind"), "was": job["status"],
                                               "silent_s": round(now - last_sign_of_life(job), 1)})
        return {**job, "status": "failed", "error": TIMED_OUT, "finished_at": now,
                "timed_out_after_s": round(now - last_sign_of_life(job), 1)}
    return jobs.get_job(tenant_id, job["job_id"]) or job  # it moved meanwhile: show what it is now


def get_job(jobs: JobStore, tenant_id: str, job_id: str, *, timeouts: JobTimeouts | None = None,
            now: float | None = None) -> dict | None:
    """The job row (None if there is none), checked for a timeout."""
    job = jobs.get_job(tenant_id, job_id)
    return check_job(jobs, tenant_id, job, timeouts=timeouts, now=now) if job else None


def tenant_jobs(jobs: JobStore, tenant_id: str, kind: str) -> list[dict]:
    """The tenant's job rows of one kind."""
    return jobs.jobs(tenant_id, kind)
