"""POST /v1/interactions: a batch of events into user history and sessions, idempotent by event_id."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths

from recengine.api.http import create_app, current_tenant, json_response, parse_body
from recengine.api.metering import metered, user_limit
from recengine.api.schemas import InteractionsRequest
from recengine.services.container import container
from recengine.services.ingest import record_interactions

logger = Logger()
app = create_app(logger)


@app.post("/v1/interactions")
@app.post("/api/v1/interactions")
def post_interactions():
    """Records a batch of events (or one bare event); an event with a `request_id` is an outcome of that list."""
    tenant = current_tenant(app)
    body = parse_body(app, InteractionsRequest)
    events = [e.model_dump() for e in body.interactions]
    with metered(tenant):
        result = record_interactions(container().interactions, tenant.tenant_id, events, users=user_limit(tenant))
    logger.info("interactions recorded", extra={"tenant_id": tenant.tenant_id, "accepted": result["accepted"],
                                                "duplicates": result["duplicates"]})
    return json_response(app, 201 if result["accepted"] else 200, result)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event, context):
    return app.resolve(event, context)
