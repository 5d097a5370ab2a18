"""Training: one SQS message per training job (queued by `POST /v1/models/train`, the admin CLI or
the schedule's dispatcher); each job runs once, its outcome on its row. A message whose job failed
to run is reported back (partial batch response): its redelivery finds the job no longer queued and
does nothing, and after three receives it waits in the dead-letter queue, which has an alarm."""

import json

from recengine.observability import lambda_handler as instrumented, logger
from recengine.runtime import runtime


@instrumented
def lambda_handler(event, context):
    failures = []
    for record in event.get("Records", []):
        try:
            message = json.loads(record["body"])
            job = runtime().run_training_job(str(message["tenant_id"]), str(message["job_id"]))
            logger.info("training job finished", extra={"tenant_id": message["tenant_id"], "job_id": message["job_id"],
                                                        "status": job.get("status")})
        except Exception:  # noqa: BLE001 - this message is redelivered, the others are not
            logger.exception("training job failed", extra={"message_id": record.get("messageId")})
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
