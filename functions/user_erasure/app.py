"""User erasure worker: one SQS message per erasure job (queued by DELETE /v1/users/{user_id}). A job
that failed, or waits for a batch job of its tenant to finish, is reported back (partial batch
response) and redelivered: every step is idempotent, so the redelivery finishes it; after the
queue's receive limit it waits in the dead-letter queue, which has an alarm."""

from recengine.observability import lambda_handler as instrumented, partial_batch
from recengine.runtime import runtime


def run_job(message: dict) -> tuple[str, dict]:
    job = runtime().run_erasure_job(str(message["tenant_id"]), str(message["job_id"]))
    return "erasure job finished", {"tenant_id": message["tenant_id"], "job_id": message["job_id"], "status": job.get("status")}


@instrumented
def lambda_handler(event, context):
    return partial_batch(event, run_job, "erasure job not finished")
