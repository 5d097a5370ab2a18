"""What bounds a tenant's jobs: at most one training and one batch job queued or running per tenant
(a lock row naming the job), and a daily number of jobs started on request, from the plan. A job
must claim before it is recorded and release when it ends; a job that died is detected by the
stuck-job check (job_status.py), whose record of the timeout releases its claim."""

from __future__ import annotations

import calendar
import time
from typing import Callable

from ..errors import ConflictError, DomainError
from ..observability import count
from .job_status import ACTIVE, JobTimeouts, get_job
from .job_store import JobStore

StatusUrl = Callable[[str], str]  # job id -> where its status is polled


class JobInProgressError(ConflictError):
    """A job of this kind is already queued or running for the tenant (409, naming it)."""

    code = "job-in-progress"


class JobQuotaExceededError(DomainError):
    """The plan's daily number of jobs of this kind is used up (429 until the next UTC day)."""

    code = "job-quota-exceeded"


def utc_day(now: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(now))


def seconds_to_next_day(now: float) -> int:
    year, month, day = map(int, utc_day(now).split("-"))
    return max(1, int(calendar.timegm((year, month, day, 0, 0, 0)) + 86400 - now))


def claim(jobs: JobStore, tenant_id: str, kind: str, job_id: str, *, timeouts: JobTimeouts, status_url: StatusUrl,
          now: float | None = None) -> None:
    """Takes the tenant's lock for `kind` for `job_id`; JobInProgressError (with the running job's id,
    status and status URL) when another job of that kind is queued or running. A lock left by a job
    that has ended, or that the stuck-job check finds dead, is taken over."""
    now = time.time() if now is None else now
    for _ in range(3):
        holder = jobs.acquire_lock(tenant_id, kind, job_id, now)
        if holder is None:
            return
        job = get_job(jobs, tenant_id, holder, timeouts=timeouts, now=now) if holder else None
        if job is not None and job.get("status") in ACTIVE:
            count("JobRefused", kind=kind, reason="in_progress")
            raise JobInProgressError(
                f"a {kind} job is already {job['status']} for this tenant: poll it, or retry when it has ended",
                details={"job_id": holder, "job_status": job["status"], "status_url": status_url(holder)},
                retry_after_s=30)
        if jobs.replace_lock(tenant_id, kind, job_id, holder, now):
            return
    raise JobInProgressError(f"another {kind} job claimed this tenant meanwhile; retry", retry_after_s=5)


def release(jobs: JobStore, tenant_id: str, kind: str, job_id: str) -> None:
    """Frees the lock if this job still holds it."""
    jobs.release_lock(tenant_id, kind, job_id)


def count_against_quota(jobs: JobStore, tenant_id: str, kind: str, limit: int, now: float | None = None) -> str:
    """Counts one job started on request against the plan's daily limit; returns the day counted.
    JobQuotaExceededError (nothing counted) when the day's jobs are used up."""
    now = time.time() if now is None else now
    day = utc_day(now)
    if not jobs.count_daily(tenant_id, kind, day, limit, now):
        count("JobRefused", kind=kind, reason="daily_quota")
        raise JobQuotaExceededError(f"the plan allows {limit} {kind} job(s) a day and they are used up; "
                                    "retry tomorrow (UTC) or change to a larger plan",
                                    details={"daily_limit": limit}, retry_after_s=seconds_to_next_day(now))
    return day
