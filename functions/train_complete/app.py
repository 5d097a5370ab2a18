"""The end of a Spark training: EventBridge's "EMR Serverless Job Run State Change" for a run that
ended (SUCCESS, FAILED, CANCELLED) on the deployment's application. A success registers the run's
artefact through the promotion guard; a failure fails the job; the tenant's training lock is freed
either way. A failure here is retried by EventBridge; a repeat finds the job ended and does nothing.
Those events are delivered on a best-effort basis, so a schedule also sweeps the Spark jobs still
running and completes those whose run has ended."""

from recengine.observability import lambda_handler as instrumented
from recengine.runtime import runtime

RUN_STATE_CHANGE = "EMR Serverless Job Run State Change"


@instrumented
def lambda_handler(event, context):
    if event.get("detail-type") != RUN_STATE_CHANGE:
        return runtime().sweep_spark_runs()
    job = runtime().complete_spark_run(str(event["detail"]["jobRunId"]))
    return {"job_id": job.get("job_id"), "status": job.get("status")} if job else {"ignored": True}
