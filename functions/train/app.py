"""Training: the schedule trains every tenant with new interactions; an asynchronous invoke with
{"tenant_id", "job_id"} (from POST /v1/models/train) runs that one on-demand job."""

from recengine.models.jobs import run_scheduled_training, run_training_job
from recengine.observability import lambda_handler as instrumented, logger
from recengine.runtime import runtime


@instrumented
def lambda_handler(event, context):
    rt = runtime()
    if isinstance(event, dict) and event.get("job_id") and event.get("tenant_id"):
        # Async invokes are retried by Lambda on error; run_training_job ignores a job already started.
        job = run_training_job(rt.training, rt.jobs, str(event["tenant_id"]), str(event["job_id"]),
                               policy=rt.training_policy)
        logger.info("training job finished", extra={"tenant_id": event["tenant_id"], "job": job})
        return job
    return run_scheduled_training(rt.training, rt.tenants, rt.training_policy)
