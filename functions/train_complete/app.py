"""The end of a Spark training: EventBridge's "EMR Serverless Job Run State Change" for a run that
ended (SUCCESS, FAILED, CANCELLED) on the deployment's application. A success registers the run's
artefact through the promotion guard; a failure fails the job; the tenant's training lock is freed
either way. A failure here is retried by EventBridge; a repeat finds the job ended and does nothing."""

from recengine.observability import lambda_handler as instrumented
from recengine.runtime import runtime


@instrumented
def lambda_handler(event, context):
    job = runtime().complete_spark_run(str(event["detail"]["jobRunId"]))
    return {"job_id": job.get("job_id"), "status": job.get("status")} if job else {"ignored": True}
