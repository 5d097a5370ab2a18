"""POST /v1/interactions: a batch of events into user history and sessions, idempotent by event_id."""

from dataclasses import asdict

from aws_lambda_powertools.logging import correlation_paths

from recengine.events.schemas import InteractionsRequest
from recengine.events.service import ingest
from recengine.http.app import Api
from recengine.observability import lambda_handler as instrumented
from recengine.runtime import runtime

app = Api(lambda key_id: runtime().resolve_tenant(key_id))


@app.post("/v1/interactions")
@app.post("/api/v1/interactions")
def post_interactions():
    """Records a batch of events (or one bare event); an event with a `request_id` is an outcome of that list."""
    result = ingest(runtime().ingesting, app.caller(), app.body(InteractionsRequest).to_events(),
                    app.gateway_request_id())
    return app.json(201 if result.accepted else 200, asdict(result))


@instrumented(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event, context):
    return app.resolve(event, context)
