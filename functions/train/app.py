"""Training: one SQS message per training job (queued by `POST /v1/models/train`, the admin CLI or
the schedule's dispatcher); each job runs once, its outcome on its row. A message whose job failed
to run is reported back (partial batch response): its redelivery finds the job no longer queued and
does nothing, and after three receives it waits in the dead-letter queue, which has an alarm."""

from recengine.observability import lambda_handler as instrumented, partial_batch
from recengine.runtime import runtime


def run_job(message: dict) -> tuple[str, dict]:
    job = runtime().run_training_job(str(message["tenant_id"]), str(message["job_id"]))
    return "training job finished", {"tenant_id": message["tenant_id"], "job_id": message["job_id"], "status": job.get("status")}


@instrumented
def lambda_handler(event, context):
    return partial_batch(event, run_job, "training job failed")
