"""Batch generation worker: one SQS message per chunk of users. A chunk that fails is reported
back (partial batch response) and redelivered; a chunk already finished is skipped."""

import json

from recengine.observability import lambda_handler as instrumented, logger
from recengine.runtime import runtime


@instrumented
def lambda_handler(event, context):
    failures = []
    for record in event.get("Records", []):
        try:
            message = json.loads(record["body"])
            outcome = runtime().process_chunk(message)
            logger.info("chunk processed", extra={"job_id": message["job_id"], "chunk": message["chunk"],
                                                  "outcome": outcome})
        except Exception:  # noqa: BLE001 - this message is retried by SQS, the others are not
            logger.exception("chunk failed", extra={"message_id": record.get("messageId")})
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
