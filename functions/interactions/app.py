"""POST /v1/interactions: a batch of events into user history and sessions, idempotent by event_id."""

from aws_lambda_powertools.logging import correlation_paths

from recengine.events.presenters import ingest_answer
from recengine.events.schemas import InteractionsRequest
from recengine.events.service import ingest
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
    return app.json(*ingest_answer(result, batch))


@instrumented(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event, context):
    return app.resolve(event, context)
