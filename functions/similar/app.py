"""POST /v1/similar, and /api/v1/similar in the RecommendAI dialect (a bare array): items similar to a given item."""

from aws_lambda_powertools.logging import correlation_paths

from recengine.http.app import Api
from recengine.observability import lambda_handler as instrumented
from recengine.ranking.presenters import recommendai_similar, similar_body
from recengine.ranking.schemas import SimilarRequest
from recengine.ranking.similar import similar_items
from recengine.runtime import runtime

app = Api(lambda key_id: runtime().resolve_tenant(key_id))


@app.post("/v1/similar")
@app.post("/api/v1/similar")
def similar():
    """Items most similar to `item_id` (alias `itemId`), best first; `limit` (alias `count`)."""
    tenant, body = app.caller(), app.body(SimilarRequest)
    result = similar_items(runtime().similar, tenant, body.item_id, body.limit, body.model_id,
                           app.gateway_request_id())
    if app.current_event.path.startswith("/api/") and app.dialect("recommendai") == "recommendai":
        return app.json(200, *recommendai_similar(result))
    return app.json(200, similar_body(app.request_id(), body.item_id, result))


@instrumented(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event, context):
    return app.resolve(event, context)
