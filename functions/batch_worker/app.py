"""Batch generation worker: one SQS message per chunk of users. A chunk that fails is reported
back (partial batch response) and redelivered; a chunk already finished is skipped."""

from recengine.observability import lambda_handler as instrumented, partial_batch
from recengine.runtime import runtime


def run_chunk(message: dict) -> tuple[str, dict]:
    outcome = runtime().process_chunk(message)
    return "chunk processed", {"job_id": message["job_id"], "chunk": message["chunk"], "outcome": outcome}


@instrumented
def lambda_handler(event, context):
    return partial_batch(event, run_chunk, "chunk failed")
