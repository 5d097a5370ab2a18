"""The training schedule's dispatcher: one queued training job per tenant with new interactions,
stalest first, each run by its own train-function invocation from the queue (one tenant's failure
or timeout touches no other). A tenant whose last training read more events than one Lambda can
train in time goes to the Spark trainer on EMR Serverless when the deployment has one
(models/spark_training.py), and is reported, not queued, when it has none."""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..observability import count, logger
from ..tenancy.store import TenantStore
from .job_claims import JobInProgressError
from .job_status import JobTimeouts
from .job_store import JobStore
from .jobs import Launcher, queue_training
from .spark_training import SparkLauncher
from .training import TrainingStores


@dataclass(frozen=True)
class Candidate:
    tenant_id: str
    trained_at: float  # 0: never trained, so first in line
    events: int  # the size of its last training (estimated_events), the best estimate of the next one's


def estimated_events(stores: TrainingStores, tenant_id: str) -> int:
    """The size of the tenant's next training: the events its last one read, live or not. A version
    records its count before it is fitted, so a Lambda training that died of the tenant's size
    (timed out, out of memory) still tells the next schedule to send the tenant to Spark."""
    versions = [v for v in stores.registry.versions(tenant_id) if v.get("interactions") is not None]
    return int(versions[-1]["interactions"]) if versions else 0


def candidates(tenants: TenantStore, stores: TrainingStores) -> tuple[list[Candidate], list[str]]:
    """(tenants with interactions newer than their last training, stalest first; tenants without)."""
    due, current = [], []
    for tenant in tenants.list_tenants():
        latest = stores.interactions.latest_sort_key(tenant.tenant_id)
        marker = stores.markers.marker(tenant.tenant_id)
        if not latest or latest <= marker.get("trained_through", ""):
            current.append(tenant.tenant_id)
            continue
        due.append(Candidate(tenant.tenant_id, float(marker.get("trained_at") or 0.0),
                             estimated_events(stores, tenant.tenant_id)))
    due.sort(key=lambda c: (c.trained_at, c.tenant_id))
    return due, current


def dispatch_training(tenants: TenantStore, stores: TrainingStores, jobs: JobStore, launch: Launcher, *,
                      timeouts: JobTimeouts, max_events: int, now: float | None = None,
                      spark: SparkLauncher | None = None) -> dict:
    """Queues one training per due tenant, stalest first. A tenant with a training already queued or
    running (on Lambda or Spark) is left to it; one too large for a Lambda starts a Spark run, or is
    reported when there is no `spark`; one whose job cannot be queued is reported as failed without
    stopping the others."""
    now = time.time() if now is None else now
    due, current = candidates(tenants, stores)
    summary: dict[str, list] = {"queued": [], "spark": [], "busy": [], "too_large": [], "failed": [],
                                "up_to_date": current}
    for candidate in due:
        tenant_id = candidate.tenant_id
        if candidate.events > max_events and spark is not None:
            try:
                job = spark(tenant_id, candidate.events)
            except JobInProgressError as exc:
                summary["busy"].append({"tenant_id": tenant_id, "job_id": exc.details.get("job_id")})
            except Exception:  # noqa: BLE001 - logged by the launcher; the other tenants are still queued
                summary["failed"].append(tenant_id)
            else:
                summary["spark"].append({"tenant_id": tenant_id, "job_id": job["job_id"],
                                         "job_run_id": job.get("job_run_id")})
            continue
        if candidate.events > max_events:
            summary["too_large"].append({"tenant_id": tenant_id, "events": candidate.events})
            count("TenantTooLargeForLambda")
            logger.warning("tenant too large to train in one Lambda", extra={
                "tenant_id": tenant_id, "events": candidate.events, "max_events": max_events})
            continue
        try:
            job = queue_training(jobs, launch, tenant_id, timeouts=timeouts, trigger="schedule", force=False, now=now)
        except JobInProgressError as exc:
            summary["busy"].append({"tenant_id": tenant_id, "job_id": exc.details.get("job_id")})
            continue
        except Exception:  # noqa: BLE001 - logged with its traceback; the other tenants are still queued
            summary["failed"].append(tenant_id)
            continue
        summary["queued"].append({"tenant_id": tenant_id, "job_id": job["job_id"]})
    logger.info("training dispatched", extra={k: len(v) for k, v in summary.items()})
    return summary


def run_dispatch(tenants: TenantStore, stores: TrainingStores, jobs: JobStore, launch: Launcher, *,
                 timeouts: JobTimeouts, max_events: int, spark: SparkLauncher | None = None) -> dict:
    """The schedule's invocation: fails (so the scheduler's retry and the error alarm see it) when a
    tenant's job could not be queued; a retry finds the others' jobs queued and leaves them."""
    summary = dispatch_training(tenants, stores, jobs, launch, timeouts=timeouts, max_events=max_events, spark=spark)
    if summary["failed"]:
        raise RuntimeError(f"training could not be queued for {len(summary['failed'])} tenant(s)")
    return summary
