"""POST /v1/recommend: personalised, session-aware recommendations from the tenant's live model."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths

from recengine.api.http import create_app, current_tenant, json_response, parse_body, request_id
from recengine.api.metering import metered
from recengine.api.schemas import RecommendRequest
from recengine.services import recommend as service
from recengine.services.container import container

logger = Logger()
app = create_app(logger)


@app.post("/v1/recommend")
def recommend():
    tenant = current_tenant(app)
    body = parse_body(app, RecommendRequest)
    c = container()
    with metered(tenant):
        result = service.recommend(c.models, c.interactions, c.items, tenant.tenant_id, user_id=body.user_id,
                                   session_id=body.session_id, limit=body.limit, candidates=body.item_ids,
                                   algorithm=body.algorithm, model_id=body.model_id, popularity=c.popularity,
                                   source=body.source)
    logger.info("recommended", extra={"tenant_id": tenant.tenant_id, "model_id": result.model_id,
                                      "source": result.source, "returned": len(result.items)})
    return json_response(app, 200, {"rec_id": request_id(app), "items": result.items, "warnings": result.warnings,
                                    "model_id": result.model_id,
                                    "algorithm": body.algorithm if result.source == "batch" else result.source,
                                    "source": "batch" if result.source == "batch" else "model"})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event, context):
    return app.resolve(event, context)
