"""POST /v1/interactions: a batch of events into user history and sessions, idempotent by event_id;
/api/v1/interactions answers one bare event in the RecommendAI dialect (201 {success, interactionId, timestamp});
POST /api/v1/respond: the outcome of an offer joined to its decision (seed 001's Respond API)."""

from aws_lambda_powertools.logging import correlation_paths

from recengine.attribution.presenters import respond_answer
from recengine.attribution.schemas import RespondRequest
from recengine.events.presenters import ingest_answer, recommendai_answer
from recengine.events.schemas import InteractionsRequest
from recengine.events.service import ingest, record_response
from recengine.http.app import Api
from recengine.observability import lambda_handler as instrumented
from recengine.runtime import runtime

app = Api(lambda key_id: runtime().resolve_tenant(key_id))


@app.post("/v1/interactions")
@app.post("/api/v1/interactions")
def post_interactions():
    """Records a batch of events (or one bare event); an event with a `request_id` is an outcome of that list.

    Each event is validated on its own: the valid ones are recorded and each invalid one, or one whose
    `event_id` was already used for a different event (`conflict`), is reported in `rejected` by index (207)."""
    tenant, batch = app.caller(), app.batch(InteractionsRequest)
    events = [event.to_event() for _, event in batch.entries]
    result = ingest(runtime().ingesting, tenant, events, app.gateway_request_id()) if events else None
    if app.current_event.path.startswith("/api/") and _one_event() and app.dialect("recommendai") == "recommendai":
        return app.json(*recommendai_answer(result, batch))
    return app.json(*ingest_answer(result, batch))


@app.post("/api/v1/respond")
def post_respond():
    """Records an outcome (`view`, `click`, `like`, `add_to_cart`, `purchase`) of an offer a decision showed.

    Metered as an interaction. 404 when the tenant made no decision `interactionId` (or it expired); 422 when
    `offerId` was not in it."""
    tenant, body, rt = app.caller(), app.body(RespondRequest), runtime()
    return app.json(*respond_answer(record_response(rt.usage, rt.exposures, tenant, body.interaction_id, body.offer_id,
                                                    body.outcome, body.value, app.gateway_request_id())))


def _one_event() -> bool:
    """A bare event (not `{"interactions": [...]}`): RecommendAI's shape, answered in its format."""
    body = app.json_body()
    return isinstance(body, dict) and "interactions" not in body


@instrumented(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event, context):
    return app.resolve(event, context)
