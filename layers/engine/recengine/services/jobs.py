"""Jobs that outlive their runner, and the nightly batch generation.

A training or batch job is a row that its runner (a Lambda) moves from `queued` to `running` to an
outcome. A Lambda that dies (timeout, out of memory) leaves the row `running` forever, so whoever
reads a job checks it here first: silent past its timeout, it is recorded and reported as failed
("timed out"). The nightly schedule starts a generate job for every tenant that enabled one."""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Literal, Mapping

from aws_lambda_powertools import Logger
from pydantic import BaseModel, ConfigDict, Field

from ..engine.model import ALGORITHMS
from ..stores.dynamo import InteractionStore, ModelRegistry, TenantStore
from .batch import Dispatcher, start_batch_job

logger = Logger(child=True)

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

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "JobTimeouts":
        env = os.environ if env is None else env
        try:
            running = float(env.get("JOB_TIMEOUT_S") or DEFAULT_TIMEOUT_S)
            queued = float(env.get("JOB_QUEUED_TIMEOUT_S") or running)
        except ValueError as exc:
            raise RuntimeError(f"JOB_TIMEOUT_S and JOB_QUEUED_TIMEOUT_S must be seconds: {exc}") from exc
        if not all(math.isfinite(v) and v > 0 for v in (running, queued)):
            raise RuntimeError("JOB_TIMEOUT_S and JOB_QUEUED_TIMEOUT_S must be positive")
        return cls(running, queued)


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
    return now - last_sign_of_life(job) > limit


def _observe_chunks(registry: ModelRegistry, tenant_id: str, job: dict, now: float) -> dict:
    """Batch chunks do not stamp a time when they finish (only the set of done chunks grows), so
    a reader that sees the count move records when it saw it: a job still making progress is
    never failed, whatever its total run time."""
    if job.get("kind") != "batch":
        return job
    done = _chunks_done(job)
    if done == int(job.get("observed_chunks") or 0):
        return job
    fields = {"observed_chunks": done, "observed_at": now}
    registry.update_job(tenant_id, job["job_id"], fields)
    return {**job, **fields}


def _record_timeout(registry: ModelRegistry, tenant_id: str, job: dict, now: float) -> bool:
    """Sets the job failed only if the row is still as read (same status, no newer heartbeat, no
    more chunks done): a job that finished or moved meanwhile keeps its own outcome. False when
    the row had changed."""
    idle = round(now - last_sign_of_life(job), 1)
    return registry.update_job_if_unchanged(
        tenant_id, job["job_id"], {"status": "failed", "error": TIMED_OUT, "finished_at": now, "timed_out_after_s": idle},
        status=job["status"], progress_at=job.get("progress_at"),
        done_chunks=_chunks_done(job) if job.get("kind") == "batch" else None)


def check_job(registry: ModelRegistry, tenant_id: str, job: dict, *, timeouts: JobTimeouts | None = None,
              now: float | None = None) -> dict:
    """The job as it stands: one silent past its timeout is first recorded as failed ("timed out")."""
    if job.get("status") not in ACTIVE:
        return job
    timeouts = timeouts or JobTimeouts()
    now = time.time() if now is None else now
    job = _observe_chunks(registry, tenant_id, job, now)
    if not is_stuck(job, now, timeouts):
        return job
    if _record_timeout(registry, tenant_id, job, now):
        logger.warning("job timed out", extra={"tenant_id": tenant_id, "job_id": job["job_id"],
                                               "kind": job.get("kind"), "was": job["status"],
                                               "silent_s": round(now - last_sign_of_life(job), 1)})
        return {**job, "status": "failed", "error": TIMED_OUT, "finished_at": now,
                "timed_out_after_s": round(now - last_sign_of_life(job), 1)}
    return registry.get_job(tenant_id, job["job_id"]) or job  # it moved meanwhile: show what it is now


def get_job(registry: ModelRegistry, tenant_id: str, job_id: str, *, timeouts: JobTimeouts | None = None,
            now: float | None = None) -> dict | None:
    """The job row (None if there is none), checked for a timeout."""
    job = registry.get_job(tenant_id, job_id)
    return check_job(registry, tenant_id, job, timeouts=timeouts, now=now) if job else None


def tenant_jobs(registry: ModelRegistry, tenant_id: str, kind: str) -> list[dict]:
    """The tenant's job rows of one kind."""
    return registry.jobs(tenant_id, kind)


# ---------------------------------------------------------------------- nightly batch generation
MAX_NIGHTLY_COUNT = 100  # the longest list recommend returns (api.schemas.MAX_LIMIT)
NIGHTLY_REPEAT_S = 12 * 3600.0  # a retried or repeated schedule does not start a second nightly job
NIGHTLY_TRIGGER = "nightly"


class NightlyBatch(BaseModel):
    """A tenant's nightly batch generation (`nightly_batch` on its tenant record): every user with
    events gets `count` recommendations from `algorithm`."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    algorithm: Literal[ALGORITHMS] = "hybrid"  # type: ignore[valid-type]
    count: int = Field(default=10, ge=1, le=MAX_NIGHTLY_COUNT)


def _busy(registry: ModelRegistry, tenant_id: str, now: float, timeouts: JobTimeouts) -> str | None:
    """Why the tenant gets no nightly job now (None: it does)."""
    for job in tenant_jobs(registry, tenant_id, "batch"):
        job = check_job(registry, tenant_id, job, timeouts=timeouts, now=now)
        if job.get("status") in ACTIVE:
            return f"batch job {job['job_id']} is {job['status']}"
        if job.get("trigger") == NIGHTLY_TRIGGER and now - float(job.get("created_at", 0)) < NIGHTLY_REPEAT_S:
            return f"nightly job {job['job_id']} already ran"
    return None


def start_nightly_batches(tenants: TenantStore, registry: ModelRegistry, interactions: InteractionStore,
                          dispatch: Dispatcher, *, bucket: str = "", timeouts: JobTimeouts | None = None,
                          now: float | None = None) -> dict:
    """Starts one generate job per tenant with a nightly setting. A tenant with a batch job still
    queued or running, or whose nightly job started in the last 12 hours (a retried schedule), is
    skipped; one tenant's failure does not stop the others."""
    timeouts = timeouts or JobTimeouts()
    started: list[dict] = []
    skipped: list[dict] = []
    failed: list[str] = []
    for tenant_id, raw in tenants.nightly_batches():
        try:
            setting = NightlyBatch.model_validate(raw)
            reason = _busy(registry, tenant_id, time.time() if now is None else now, timeouts)
            if reason:
                skipped.append({"tenant_id": tenant_id, "reason": reason})
                continue
            job = start_batch_job(registry, interactions, dispatch, tenant_id, algorithm=setting.algorithm,
                                  count=setting.count, bucket=bucket)
            registry.update_job(tenant_id, job["job_id"], {"trigger": NIGHTLY_TRIGGER})
        except Exception:  # noqa: BLE001 - logged with its traceback; the other tenants still run
            logger.exception("nightly batch could not be started", extra={"tenant_id": tenant_id})
            failed.append(tenant_id)
            continue
        started.append({"tenant_id": tenant_id, "job_id": job["job_id"]})
    logger.info("nightly batches", extra={"started": len(started), "skipped": len(skipped), "failed": failed})
    return {"started": started, "skipped": skipped, "failed": failed}
