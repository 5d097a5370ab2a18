"""Scheduled training: every tenant with new interactions gets a new live model."""

from aws_lambda_powertools import Logger

from recengine.services.container import container
from recengine.services.training import train_all

logger = Logger()


@logger.inject_lambda_context
def lambda_handler(event, context):
    c = container()
    summary = train_all(c.tenants, c.interactions, c.registry, c.artefacts, items=c.items)
    logger.info("training run finished", extra=summary)
    if summary["failed"]:
        # Fail the invocation so the scheduler's retry policy and alarms see it.
        raise RuntimeError(f"training failed for {len(summary['failed'])} tenant(s)")
    return summary
