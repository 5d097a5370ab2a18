"""The nightly schedule: a generate job for every tenant that enabled nightly batches, at most
one per tenant per night, never beside a batch job still running."""

from __future__ import annotations

import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..engine.recommender import ALGORITHMS
from ..events.store import InteractionStore
from ..models.job_claims import JobInProgressError
from ..models.job_status import ACTIVE, JobTimeouts, check_job, tenant_jobs
from ..models.job_store import JobStore
from ..observability import logger
from ..ranking.query import MAX_LIMIT
from ..tenancy.store import TenantStore
from .service import Dispatcher, start_batch_job
from .store import NightlySettingStore

MAX_NIGHTLY_COUNT = MAX_LIMIT  # the longest list recommend returns
NIGHTLY_REPEAT_S = 12 * 3600.0  # a retried or repeated schedule does not start a second nightly job
NIGHTLY_TRIGGER = "nightly"


class NightlyBatch(BaseModel):
    """A tenant's nightly batch generation (`nightly_batch` on its tenant record): every user with
    events gets `count` recommendations from `algorithm`."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    algorithm: Literal[ALGORITHMS] = "hybrid"  # type: ignore[valid-type]
    count: int = Field(default=10, ge=1, le=MAX_NIGHTLY_COUNT)


def _busy(jobs: JobStore, tenant_id: str, now: float, timeouts: JobTimeouts) -> str | None:
    """Why the tenant gets no nightly job now (None: it does)."""
    for job in tenant_jobs(jobs, tenant_id, "batch"):
        job = check_job(jobs, tenant_id, job, timeouts=timeouts, now=now)
        if job.get("status") in ACTIVE:
            return f"batch job {job['job_id']} is {job['status']}"
        if job.get("trigger") == NIGHTLY_TRIGGER and now - float(job.get("created_at", 0)) < NIGHTLY_REPEAT_S:
            return f"nightly job {job['job_id']} already ran"
    return None


def start_nightly_batches(nightly: NightlySettingStore, tenants: TenantStore, jobs: JobStore,
                          interactions: InteractionStore, dispatch: Dispatcher, *, bucket: str = "",
                          timeouts: JobTimeouts | None = None, now: float | None = None) -> dict:
    """Starts one generate job per tenant with a nightly setting. A tenant with a batch job still
    queued or running, or whose nightly job started in the last 12 hours (a retried schedule), is
    skipped; one tenant's failure does not stop the others."""
    timeouts = timeouts or JobTimeouts()
    started: list[dict] = []
    skipped: list[dict] = []
    failed: list[str] = []
    for tenant_id, raw in nightly.all():
        try:
            setting = NightlyBatch.model_validate(raw)
            reason = _busy(jobs, tenant_id, time.time() if now is None else now, timeouts)
            tenant = tenants.get_tenant(tenant_id)
            if reason or tenant is None:
                skipped.append({"tenant_id": tenant_id, "reason": reason or "no such tenant"})
                continue
            job = start_batch_job(jobs, interactions, dispatch, tenant, algorithm=setting.algorithm,
                                  count=setting.count, timeouts=timeouts, trigger=NIGHTLY_TRIGGER, bucket=bucket)
        except JobInProgressError as exc:  # an API generate started meanwhile
            skipped.append({"tenant_id": tenant_id, "reason": f"batch job {exc.details.get('job_id')} is "
                                                              f"{exc.details.get('job_status')}"})
            continue
        except Exception:  # noqa: BLE001 - logged with its traceback; the other tenants still run
            logger.exception("nightly batch could not be started", extra={"tenant_id": tenant_id})
            failed.append(tenant_id)
            continue
        started.append({"tenant_id": tenant_id, "job_id": job["job_id"]})
    logger.info("nightly batches", extra={"started": len(started), "skipped": len(skipped), "failed": failed})
    return {"started": started, "skipped": skipped, "failed": failed}


SCHEDULE_SOURCES = ("aws.events", "aws.scheduler")


def is_nightly_event(event: object) -> bool:
    """The schedule's input, or a plain EventBridge scheduled event; an API event never is."""
    if not isinstance(event, dict) or "httpMethod" in event or "requestContext" in event:
        return False
    return event.get("action") == "nightly" or event.get("source") in SCHEDULE_SOURCES


def run_nightly(nightly: NightlySettingStore, tenants: TenantStore, jobs: JobStore, interactions: InteractionStore,
                dispatch: Dispatcher, *, bucket: str, timeouts: JobTimeouts) -> dict:
    """The schedule's invocation: fails (so the scheduler's retry and the error alarm see it) when a
    tenant's job could not be started; a retry skips the tenants whose nightly job already started."""
    summary = start_nightly_batches(nightly, tenants, jobs, interactions, dispatch, bucket=bucket, timeouts=timeouts)
    if summary["failed"]:
        raise RuntimeError(f"nightly batch failed for {len(summary['failed'])} tenant(s)")
    return summary
