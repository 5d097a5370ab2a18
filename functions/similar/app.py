"""POST /v1/similar (also /api/v1/similar): items similar to a given item."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths

from recengine.api.http import create_app, current_tenant, json_response, parse_body, request_id
from recengine.api.metering import metered
from recengine.api.schemas import SimilarRequest
from recengine.services import recommend as service
from recengine.services.container import container

logger = Logger()
app = create_app(logger)


@app.post("/v1/similar")
@app.post("/api/v1/similar")
def similar():
    """Items most similar to `item_id` (alias `itemId`), best first; `limit` (alias `count`)."""
    tenant = current_tenant(app)
    body = parse_body(app, SimilarRequest)
    c = container()
    with metered(tenant):
        result = service.similar(c.models, c.items, tenant.tenant_id, body.item_id, body.limit,
                                 model_id=body.model_id)
    return json_response(app, 200, {"rec_id": request_id(app), "item_id": body.item_id, "items": result.items,
                                    "warnings": result.warnings, "model_id": result.model_id})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event, context):
    return app.resolve(event, context)
