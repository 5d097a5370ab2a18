"""Training jobs: every training, asked for (`POST /v1/models/train`, the admin CLI) or scheduled,
is a job row that claims the tenant's training lock, is handed to the train function's queue, and is
run once there; its outcome lands on the row and the lock is released. A tenant has at most one
training queued or running, and starts at most its plan's number of trainings a day on request."""

from __future__ import annotations

import secrets
import string
import time
from typing import Callable

from ..billing.periods import plan_of
from ..errors import NotFoundError
from ..observability import logger
from ..tenancy.model import Tenant
from .job_claims import claim, count_against_quota, release
from .job_status import JobTimeouts, get_job
from .job_store import JobStore
from .training import Progress, TrainingPolicy, TrainingStores, train_tenant

KIND = "train"
Launcher = Callable[[str, str], None]  # (tenant_id, job_id): hands the job to the train function's queue


def new_job_id() -> str:
    return "train-" + "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(16))


def status_url(job_id: str) -> str:
    return f"/v1/models/jobs/{job_id}"


def queue_training(jobs: JobStore, launch: Launcher, tenant_id: str, *, timeouts: JobTimeouts, trigger: str,
                   force: bool, now: float | None = None) -> dict:
    """Claims the tenant's training lock for a new job, records it `queued` and launches it
    (JobInProgressError when a training is already queued or running). A launch that fails leaves
    the job `failed` and the lock free."""
    now = time.time() if now is None else now
    job = {"job_id": new_job_id(), "kind": KIND, "status": "queued", "created_at": now, "trigger": trigger,
           "force": force}
    claim(jobs, tenant_id, KIND, job["job_id"], timeouts=timeouts, status_url=status_url, now=now)
    try:
        jobs.put_job(tenant_id, job)
        launch(tenant_id, job["job_id"])
    except Exception:
        jobs.transition(tenant_id, job["job_id"], ("queued",), {"status": "failed", "finished_at": time.time(),
                                                                "error": "the training could not be started"})
        release(jobs, tenant_id, KIND, job["job_id"])
        logger.exception("training job could not be started", extra={"tenant_id": tenant_id, "job_id": job["job_id"]})
        raise
    return job


def start_training_job(jobs: JobStore, launch: Launcher, tenant: Tenant, *, timeouts: JobTimeouts,
                       now: float | None = None) -> dict:
    """`POST /v1/models/train`: one more training of the plan's daily allowance (429 past it), which
    trains even without new interactions."""
    now = time.time() if now is None else now
    day = count_against_quota(jobs, tenant.tenant_id, KIND, plan_of(tenant).daily_training_jobs, now)
    try:
        job = queue_training(jobs, launch, tenant.tenant_id, timeouts=timeouts, trigger="api", force=True, now=now)
    except Exception:
        jobs.uncount_daily(tenant.tenant_id, KIND, day)  # not started: not counted
        raise
    return jobs.get_job(tenant.tenant_id, job["job_id"]) or job


def get_training_job(jobs: JobStore, tenant_id: str, job_id: str, timeouts: JobTimeouts) -> dict:
    """The tenant's training job, checked for a timeout (a job whose Lambda died stays `running` in
    its row: it is reported, and recorded, as timed out); NotFoundError for any other id."""
    job = get_job(jobs, tenant_id, job_id, timeouts=timeouts)
    if job is None or job.get("kind", KIND) != KIND:
        raise NotFoundError(f"training job {job_id!r} not found")
    return job


def run_training_job(stores: TrainingStores, jobs: JobStore, tenant_id: str, job_id: str, *,
                     policy: TrainingPolicy | None = None, progress: Progress | None = None) -> dict:
    """Runs one queued job and records the outcome on the job row; the job's lock is released
    however it ends. A job that is not queued any more (an at-least-once redelivery, or a twin
    delivery racing this one) is left alone: only one runner wins the queued -> running move."""
    job = jobs.get_job(tenant_id, job_id)
    if job is None:
        raise NotFoundError(f"training job {job_id!r} not found")
    if not jobs.transition(tenant_id, job_id, ("queued",), {"status": "running", "started_at": time.time()}):
        logger.warning("training job already started; ignoring the repeat", extra={"tenant_id": tenant_id,
                                                                                  "job_id": job_id})
        return jobs.get_job(tenant_id, job_id) or job
    heartbeat = job_heartbeat(jobs, tenant_id, job_id)
    try:
        record = train_tenant(stores, tenant_id, force=bool(job.get("force", True)), policy=policy,
                              progress=heartbeat if progress is None else _both(heartbeat, progress))
    except Exception as exc:
        jobs.transition(tenant_id, job_id, ("running",), {"status": "failed", "finished_at": time.time(),
                                                          "error": f"training failed ({type(exc).__name__})"})
        release(jobs, tenant_id, KIND, job_id)
        raise
    if record is None:
        detail = "no interactions newer than the last training" if not job.get("force", True) \
            else "the tenant has no interactions yet"
        fields = {"status": "skipped", "finished_at": time.time(), "detail": detail}
    else:
        fields = {"status": "succeeded", "finished_at": time.time(), "result_model_id": record["model_id"],
                  "model_status": record["status"], "detail": record.get("promotion_reason")}
    if not jobs.transition(tenant_id, job_id, ("running",), fields):
        logger.warning("training finished after its job was recorded as failed", extra={
            "tenant_id": tenant_id, "job_id": job_id, "model_id": fields.get("result_model_id")})
    release(jobs, tenant_id, KIND, job_id)
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


def _both(first: Progress, second: Progress) -> Progress:
    def both(info: dict) -> None:
        first(info)
        second(info)

    return both


def inline_launcher(run: Launcher) -> Launcher:
    """Tests: runs the job before the 202 is returned (deterministic; failures land on the job row)."""

    def launch(tenant_id: str, job_id: str) -> None:
        try:
            run(tenant_id, job_id)
        except Exception:  # noqa: BLE001 - recorded on the job row by run_training_job
            logger.exception("training job failed", extra={"tenant_id": tenant_id, "job_id": job_id})

    return launch
