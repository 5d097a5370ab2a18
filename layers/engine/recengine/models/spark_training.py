"""Training on EMR Serverless for tenants too large for one Lambda (docs/adr/0009-emr-serverless-training-data.md).

The same job row, tenant lock and registry as a Lambda training: the dispatcher claims the tenant's
`train` lock, records the job and a `training` version, and starts a Spark job run tagged with
both; the run exports the tenant's events and catalogue as Parquet (export_training_data, on its
driver) and writes the artefact (manifest last). EventBridge's "Job Run State Change" then invokes
the completion handler (complete_spark_run), which registers the version through the promotion
guard, or records the failure, and releases the lock either way."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable

from ..catalogue.store import ItemStore
from ..engine.artefact import MANIFEST
from ..events.store import InteractionStore
from ..observability import count, logger
from .errors import ModelNotFoundError
from ..errors import NotFoundError
from .export_store import ExportStore, event_table, export_prefix, item_table
from .job_claims import claim, release
from .job_status import ACTIVE, JobTimeouts
from .job_store import JobStore
from .jobs import KIND, new_job_id, status_url
from .promotion import apply_retention, promote_if_not_worse
from .spark_runs import SparkRunStore
from .training import TrainingPolicy, TrainingStores, new_model_id

RUNNER = "spark"
ENDED = ("SUCCESS", "FAILED", "CANCELLED")
TIMEOUT_MARGIN_S = 1200.0  # after EMR's own execution timeout, before the stuck-job check fails it
ROWS_PER_FILE = 1_000_000
TRAINING_REPORT = "training.json"  # spark/train_job.py's REPORT, beside the artefact
SPARK_CODE_PREFIX = "spark/"  # in the model bucket: entry.py, recengine.zip, pyspark_env.tar.gz


@dataclass(frozen=True)
class SparkConfig:
    """How runs start (SPARK_JOB_ROLE_ARN, MODEL_BUCKET, SPARK_JOB_TIMEOUT_MIN). `code_uri` (the
    bucket's SPARK_CODE_PREFIX) holds entry.py, the code zip and the Python environment."""

    role_arn: str
    code_uri: str
    bucket: str
    timeout_min: int = 240
    seed: int = 0

    def submit_parameters(self) -> str:
        code = self.code_uri.rstrip("/")
        return (f"--py-files {code}/recengine.zip "
                f"--conf spark.archives={code}/pyspark_env.tar.gz#environment "
                "--conf spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON=./environment/bin/python "
                "--conf spark.emr-serverless.driverEnv.PYSPARK_PYTHON=./environment/bin/python "
                "--conf spark.executorEnv.PYSPARK_PYTHON=./environment/bin/python")

    def arguments(self, tenant_id: str, job_id: str, model_id: str, tables: tuple[str, str]) -> list[str]:
        """emr/entry.py's command line: where to export to, from which tables, and where the artefact goes."""
        prefix = export_prefix(tenant_id, job_id)
        return ["--tenant-id", tenant_id, "--job-id", job_id, "--model-id", model_id, "--seed", str(self.seed),
                "--bucket", self.bucket, "--export-prefix", prefix, "--interactions-table", tables[0],
                "--items-table", tables[1], "--out", f"s3://{self.bucket}/tenants/{tenant_id}/models/{model_id}/"]


SparkLauncher = Callable[[str, int], dict]  # (tenant_id, estimated events) -> the job row


def queue_spark_training(stores: TrainingStores, jobs: JobStore, runs: SparkRunStore, config: SparkConfig,
                         tables: tuple[str, str], tenant_id: str, *, events: int, timeouts: JobTimeouts,
                         trigger: str = "schedule", now: float | None = None) -> dict:
    """Claims the tenant's training lock (JobInProgressError when a training is queued or running,
    on Lambda or Spark), records the job and a `training` version, starts the run. A run that cannot
    be started leaves the job and the version failed and the lock free."""
    now = time.time() if now is None else now
    job_id = new_job_id()
    claim(jobs, tenant_id, KIND, job_id, timeouts=timeouts, status_url=status_url, now=now)
    version, model_id = 0, ""
    job = {"job_id": job_id, "kind": KIND, "status": "queued", "created_at": now, "trigger": trigger, "force": False,
           "runner": RUNNER, "events_estimate": events, "timeout_s": config.timeout_min * 60 + TIMEOUT_MARGIN_S}
    try:
        # the newest event at launch: the run reads at least this far, so the next schedule starts after it
        job["trained_through"] = stores.interactions.latest_sort_key(tenant_id)
        version = stores.registry.next_version(tenant_id)
        model_id = job["target_model_id"] = new_model_id("hybrid", version)
        jobs.put_job(tenant_id, job)
        stores.registry.put_version(tenant_id, {"model_id": model_id, "algorithm": "hybrid", "version": version,
                                                "status": "training", "created_at": now, "runner": RUNNER,
                                                "interactions": events})
        run_id = runs.start(name=f"train-{tenant_id}-{job_id}"[:256], role_arn=config.role_arn,
                            entry_point=config.code_uri.rstrip("/") + "/entry.py",
                            arguments=config.arguments(tenant_id, job_id, model_id, tables),
                            submit_parameters=config.submit_parameters(),
                            tags={"tenant_id": tenant_id, "job_id": job_id, "model_id": model_id},
                            timeout_min=config.timeout_min, client_token=job_id)
    except Exception:
        _fail(stores, jobs, tenant_id, job, "the Spark training could not be started", ("queued",))
        logger.exception("Spark training could not be started", extra={"tenant_id": tenant_id, "job_id": job_id})
        raise
    jobs.transition(tenant_id, job_id, ("queued",), {"status": "running", "started_at": time.time(),
                                                     "job_run_id": run_id})
    count("SparkTrainingStarted")
    logger.info("Spark training started", extra={"tenant_id": tenant_id, "job_id": job_id, "model_id": model_id,
                                                 "job_run_id": run_id, "events": events})
    return {**job, "status": "running", "job_run_id": run_id}


def _fail(stores: TrainingStores, jobs: JobStore, tenant_id: str, job: dict, error: str,
          expected: tuple[str, ...] = ACTIVE) -> None:
    """The job failed, its `training` version failed, the lock freed (a row never written is skipped)."""
    finished = time.time()
    if job.get("target_model_id"):
        row = stores.registry.get_version(tenant_id, job["target_model_id"], consistent=True)
        if row is not None and row.get("status") == "training":
            stores.registry.put_version(tenant_id, {**row, "status": "failed", "finished_at": finished, "error": error})
    try:
        jobs.transition(tenant_id, job["job_id"], expected, {"status": "failed", "finished_at": finished,
                                                             "error": error})
    finally:
        release(jobs, tenant_id, KIND, job["job_id"])


def complete_spark_run(stores: TrainingStores, jobs: JobStore, runs: SparkRunStore, run_id: str, *,
                       policy: TrainingPolicy | None = None) -> dict | None:
    """A run's end, as EventBridge reports it: on SUCCESS its artefact's version is registered and
    goes live only past the promotion guard; otherwise the job and version are failed. The lock is
    released either way. A run this deployment did not start (no job tags), or a repeated event for
    a job already ended, changes nothing; None then."""
    policy = policy or TrainingPolicy()
    run = runs.get(run_id)
    tenant_id, job_id = run.tags.get("tenant_id"), run.tags.get("job_id")
    if run.state not in ENDED or not tenant_id or not job_id:
        logger.info("Spark job run ignored", extra={"job_run_id": run_id, "state": run.state})
        return None
    job = jobs.get_job(tenant_id, job_id)
    if job is None or job.get("status") not in ACTIVE or job.get("runner") != RUNNER:
        logger.warning("Spark job run's job already ended; ignoring the repeat",
                       extra={"tenant_id": tenant_id, "job_id": job_id, "job_run_id": run_id})
        return None
    if run.state != "SUCCESS":
        detail = f"the Spark job run ended {run.state}" + (f": {run.state_details}" if run.state_details else "")
        _fail(stores, jobs, tenant_id, job, detail[:500])
        count("SparkTrainingFailed")
        logger.error("Spark training failed", extra={"tenant_id": tenant_id, "job_id": job_id, "state": run.state})
        return jobs.get_job(tenant_id, job_id)
    try:
        record = register_spark_version(stores, tenant_id, job, policy)
    except (NotFoundError, ModelNotFoundError):
        _fail(stores, jobs, tenant_id, job, "the Spark job run succeeded but left no complete artefact")
        logger.error("Spark artefact missing", extra={"tenant_id": tenant_id, "job_id": job_id})
        return jobs.get_job(tenant_id, job_id)
    fields = {"status": "succeeded", "finished_at": time.time(), "result_model_id": record["model_id"],
              "model_status": record["status"], "detail": record.get("promotion_reason")}
    if not jobs.transition(tenant_id, job_id, ACTIVE, fields):
        logger.warning("Spark training finished after its job was recorded as failed",
                       extra={"tenant_id": tenant_id, "job_id": job_id, "model_id": record["model_id"]})
    release(jobs, tenant_id, KIND, job_id)
    return jobs.get_job(tenant_id, job_id)


def sweep_spark_runs(tenant_ids: Iterable[str], stores: TrainingStores, jobs: JobStore, runs: SparkRunStore, *,
                     policy: TrainingPolicy | None = None) -> dict:
    """EventBridge delivers EMR Serverless events on a best-effort basis: a run whose end was never
    reported would hold its tenant's lock until its timeout and its model would be lost. On a
    schedule, every Spark job still running is checked against its run, and completed if the run
    has ended. Returns {completed: [...], running: n}."""
    completed, running = [], 0
    for tenant_id in tenant_ids:
        for job in jobs.jobs(tenant_id, KIND):
            if job.get("runner") != RUNNER or job.get("status") not in ACTIVE or not job.get("job_run_id"):
                continue
            outcome = complete_spark_run(stores, jobs, runs, str(job["job_run_id"]), policy=policy)
            if outcome is None:
                running += 1
            else:
                completed.append({"tenant_id": tenant_id, "job_id": job["job_id"], "status": outcome.get("status")})
    if completed:
        count("SparkRunsReconciled", value=len(completed))
        logger.warning("Spark runs completed by the sweep (their events were not delivered)",
                       extra={"completed": completed})
    return {"completed": completed, "running": running}


def register_spark_version(stores: TrainingStores, tenant_id: str, job: dict, policy: TrainingPolicy) -> dict:
    """The run's artefact as a candidate (its manifest's meta, its report's holdout metrics), promoted past the
    guard; the trained marker moves to the newest event at launch; retention applies."""
    model_id = job["target_model_id"]
    manifest = stores.artefacts.read_json(tenant_id, model_id, MANIFEST)
    if manifest.get("model_id", model_id) != model_id:
        raise NotFoundError(f"artefact {model_id} holds another model ({manifest.get('model_id')})")
    meta = manifest.get("meta") or {}
    try:  # the job's report, written before the manifest: holdout metrics and timings
        metrics = dict(stores.artefacts.read_json(tenant_id, model_id, TRAINING_REPORT).get("metrics") or {})
    except NotFoundError:
        metrics = {}  # no holdout evaluation: the guard keeps it candidate beside a live model with metrics
    row = stores.registry.get_version(tenant_id, model_id, consistent=True) or {
        "model_id": model_id, "algorithm": "hybrid", "created_at": job.get("created_at"), "runner": RUNNER,
        "status": "training"}
    if row.get("status") != "training":  # registered by an earlier attempt that failed after it: not again
        record, reason = row, str(row.get("promotion_reason") or "registered earlier")
    else:
        interactions = metrics.get("interactions") or meta.get("interactions") or job.get("events_estimate") or 0
        record = {**row, "status": "candidate", "artefact": stores.artefacts.location(tenant_id, model_id),
                  "finished_at": time.time(), "meta": meta, "metrics": metrics, "interactions": int(interactions)}
        stores.registry.put_version(tenant_id, record)
        record, reason = promote_if_not_worse(stores.registry, tenant_id, record, policy.tolerance, time.time())
    stores.markers.set_trained_marker(tenant_id, job.get("trained_through", ""), time.time())
    apply_retention(stores.registry, stores.artefacts, tenant_id, policy.keep_versions)
    logger.info("Spark model registered", extra={"tenant_id": tenant_id, "model_id": model_id,
                                                 "status": record["status"], "reason": reason})
    return record


def export_training_data(interactions: InteractionStore, items: ItemStore, exports: ExportStore, tenant_id: str,
                         prefix: str, *, excluded_users: frozenset[str] = frozenset(),
                         rows_per_file: int = ROWS_PER_FILE) -> dict:
    """The tenant's events (less those of excluded users, as the Lambda trainer reads them) and its
    catalogue as Parquet parts under `prefix`, then the summary (written last). Runs where pyarrow
    is: the Spark job's driver, or a developer's machine."""
    started, parts, batch, events, last_sk = time.time(), [], [], 0, ""
    for row in interactions.tenant_events(tenant_id):
        last_sk = row["sk"]
        if row["user_id"] in excluded_users:
            continue
        batch.append(row)
        if len(batch) >= rows_per_file:
            parts.append(exports.write_parquet(f"{prefix}events/part-{len(parts):05d}.parquet", event_table(batch)))
            events, batch = events + len(batch), []
    if batch or not parts:
        parts.append(exports.write_parquet(f"{prefix}events/part-{len(parts):05d}.parquet", event_table(batch)))
        events += len(batch)
    items_taken_at = time.time()  # the snapshot's time: every catalogue write after it is in the change record
    catalogue = list(items.iter_items(tenant_id))
    items_uri = exports.write_parquet(f"{prefix}items/part-00000.parquet", item_table(catalogue))
    summary = {"tenant_id": tenant_id, "events": events, "items": len(catalogue), "last_sk": last_sk,
               "events_path": exports.uri(prefix + "events/"), "items_path": items_uri.rsplit("/", 1)[0] + "/",
               "parts": len(parts), "items_taken_at": items_taken_at, "export_s": round(time.time() - started, 3)}
    exports.write_summary(prefix, summary)
    logger.info("training data exported", extra=summary)
    return summary
