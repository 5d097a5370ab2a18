"""On-demand training jobs: a queued job row handed to a launcher (an async invoke of the train
function in AWS, a thread locally, inline in tests), run once, its outcome on the row."""

from __future__ import annotations

import secrets
import string
import threading
import time
from typing import Callable

from ..errors import NotFoundError
from ..observability import logger
from ..tenancy.store import TenantStore
from .job_status import JobTimeouts, get_job
from .job_store import JobStore
from .training import Progress, TrainingPolicy, TrainingStores, train_all, train_tenant

JOB_STATUSES = ("queued", "running", "succeeded", "skipped", "failed")
Launcher = Callable[[str, str], None]  # (tenant_id, job_id): starts run_training_job elsewhere


def new_job_id() -> str:
    return "train-" + "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(16))


def start_training_job(jobs: JobStore, launch: Launcher, tenant_id: str, now: float | None = None) -> dict:
    """Records a queued job and hands it to `launch` (an async Lambda invoke in AWS)."""
    job = {"job_id": new_job_id(), "kind": "train", "status": "queued", "created_at": now or time.time()}
    jobs.put_job(tenant_id, job)
    try:
        launch(tenant_id, job["job_id"])
    except Exception:
        jobs.update_job(tenant_id, job["job_id"], {"status": "failed", "finished_at": time.time(),
                                                   "error": "the training could not be started"})
        logger.exception("training job could not be started", extra={"tenant_id": tenant_id, "job_id": job["job_id"]})
        raise
    return jobs.get_job(tenant_id, job["job_id"]) or job


def get_training_job(jobs: JobStore, tenant_id: str, job_id: str, timeouts: JobTimeouts) -> dict:
    """The tenant's training job, checked for a timeout (a job whose Lambda died stays `running` in
    its row: it is reported, and recorded, as timed out); NotFoundError for any other id."""
    job = get_job(jobs, tenant_id, job_id, timeouts=timeouts)
    if job is None or job.get("kind", "train") != "train":
        raise NotFoundError(f"training job {job_id!r} not found")
    return job


def run_training_job(stores: TrainingStores, jobs: JobStore, tenant_id: str, job_id: str, *,
                     policy: TrainingPolicy | None = None) -> dict:
    """Runs one queued job (force-trains the tenant) and records the outcome on the job row. A job
    that is not queued any more (an at-least-once redelivery) is left alone."""
    job = jobs.get_job(tenant_id, job_id)
    if job is None:
        raise NotFoundError(f"training job {job_id!r} not found")
    if job.get("status") != "queued":
        logger.warning("training job already started; ignoring the repeat", extra={"tenant_id": tenant_id,
                                                                                  "job_id": job_id})
        return job
    jobs.update_job(tenant_id, job_id, {"status": "running", "started_at": time.time()})
    try:
        record = train_tenant(stores, tenant_id, force=True, policy=policy,
                              progress=job_heartbeat(jobs, tenant_id, job_id))
    except Exception as exc:
        jobs.update_job(tenant_id, job_id, {"status": "failed", "finished_at": time.time(),
                                                "error": f"training failed ({type(exc).__name__})"})
        raise
    if record is None:
        fields = {"status": "skipped", "finished_at": time.time(), "detail": "the tenant has no interactions yet"}
    else:
        fields = {"status": "succeeded", "finished_at": time.time(), "result_model_id": record["model_id"],
                  "model_status": record["status"], "detail": record.get("promotion_reason")}
    jobs.update_job(tenant_id, job_id, fields)
    return jobs.get_job(tenant_id, job_id) or {}


HEARTBEAT_S = 30.0


def job_heartbeat(jobs: JobStore, tenant_id: str, job_id: str, every_s: float = HEARTBEAT_S) -> Progress:
    """Stamps `progress_at` on the job row (at most every `every_s`), so that the stuck-job check
    (job_status.py) measures how long a job has been silent, not how long it has run."""
    last = 0.0

    def beat(info: dict) -> None:
        nonlocal last
        now = time.time()
        if now - last >= every_s:
            last = now
            jobs.update_job(tenant_id, job_id, {"progress_at": now})

    return beat


def thread_launcher(run: Launcher) -> Launcher:
    """Local stack: runs the job on a background thread of this process (no Lambda to invoke)."""

    def launch(tenant_id: str, job_id: str) -> None:
        threading.Thread(target=_logged(run), args=(tenant_id, job_id), name=f"train-{job_id}", daemon=True).start()

    return launch


def _logged(run: Launcher) -> Launcher:
    def wrapped(tenant_id: str, job_id: str) -> None:
        try:
            run(tenant_id, job_id)
        except Exception:  # noqa: BLE001 - recorded on the job row by run_training_job
            logger.exception("training job failed", extra={"tenant_id": tenant_id, "job_id": job_id})

    return wrapped


def inline_launcher(run: Launcher) -> Launcher:
    """Tests: runs the job before the 202 is returned (deterministic; failures land on the job row)."""
    return _logged(run)


def run_scheduled_training(stores: TrainingStores, tenants: TenantStore, policy: TrainingPolicy) -> dict:
    """The schedule's invocation: every tenant with new data. It fails (so the scheduler's retry
    policy and alarms see it) when any tenant failed; the others are trained regardless."""
    summary = train_all(stores, tenants, policy=policy)
    logger.info("training run finished", extra=summary)
    if summary["failed"]:
        raise RuntimeError(f"training failed for {len(summary['failed'])} tenant(s)")
    return summary
