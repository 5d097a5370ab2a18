"""Batch generation worker: one SQS message per chunk of users. A chunk that fails is reported
back (partial batch response) and redelivered; a chunk already finished is skipped."""

import json

from aws_lambda_powertools import Logger

from recengine.services.batch import process_chunk
from recengine.services.container import container

logger = Logger()


@logger.inject_lambda_context
def lambda_handler(event, context):
    c = container()
    failures = []
    for record in event.get("Records", []):
        try:
            message = json.loads(record["body"])
            outcome = process_chunk(c.models, c.interactions, c.items, c.artefacts, c.registry, message)
            logger.info("chunk processed", extra={"job_id": message["job_id"], "chunk": message["chunk"],
                                                  "outcome": outcome})
        except Exception:  # noqa: BLE001 - this message is retried by SQS, the others are not
            logger.exception("chunk failed", extra={"message_id": record.get("messageId")})
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
