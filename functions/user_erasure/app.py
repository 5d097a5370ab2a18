"""User erasure worker: one SQS message per erasure job (queued by DELETE /v1/users/{user_id}). A job
that failed, or waits for a batch job of its tenant to finish, is reported back (partial batch
response) and redelivered: every step is idempotent, so the redelivery finishes it; after the
queue's receive limit it waits in the dead-letter queue, which has an alarm."""

import json

from recengine.observability import lambda_handler as instrumented, logger
from recengine.runtime import runtime


@instrumented
def lambda_handler(event, context):
    failures = []
    for record in event.get("Records", []):
        try:
            message = json.loads(record["body"])
            job = runtime().run_erasure_job(str(message["tenant_id"]), str(message["job_id"]))
            logger.info("erasure job finished", extra={"tenant_id": message["tenant_id"], "job_id": message["job_id"],
                                                       "status": job.get("status")})
        except Exception:  # noqa: BLE001 - this message is redelivered, the others are not
            logger.exception("erasure job not finished", extra={"message_id": record.get("messageId")})
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
