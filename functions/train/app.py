"""Training: the schedule trains every tenant with new interactions; an asynchronous invoke with
{"tenant_id", "job_id"} (from POST /v1/models/train) runs that one on-demand job."""

from aws_lambda_powertools import Logger

from recengine.services.container import container
from recengine.services.training import run_training_job, train_all

logger = Logger()


@logger.inject_lambda_context
def lambda_handler(event, context):
    c = container()
    if isinstance(event, dict) and event.get("job_id") and event.get("tenant_id"):
        # Async invokes are retried by Lambda on error; run_training_job ignores a job already started.
        job = run_training_job(c.tenants, c.interactions, c.registry, c.artefacts, str(event["tenant_id"]),
                               str(event["job_id"]), items=c.items, policy=c.training_policy)
        logger.info("training job finished", extra={"tenant_id": event["tenant_id"], "job": job})
        return job
    summary = train_all(c.tenants, c.interactions, c.registry, c.artefacts, items=c.items, policy=c.training_policy)
    logger.info("training run finished", extra=summary)
    if summary["failed"]:
        # Fail the invocation so the scheduler's retry policy and alarms see it.
        raise RuntimeError(f"training failed for {len(summary['failed'])} tenant(s)")
    return summary
