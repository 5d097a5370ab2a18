"""/v1/recommend (POST and GET; /api/v1 answers RecommendAI's bare array unless a `customerId` names an
offer-decisioning client, see Api.dialect) and /v1/recommend/validate: personalised, session- and context-aware
lists from the live model, with rules, placements, frequency caps, debug traces and an exposure log per list."""

from aws_lambda_powertools.logging import correlation_paths

from recengine.http.app import Api
from recengine.observability import lambda_handler as instrumented
from recengine.ranking import service
from recengine.ranking.presenters import recommend_body, recommendai_items, validate_body
from recengine.ranking.query import Client
from recengine.ranking.schemas import RecommendRequest
from recengine.runtime import runtime

app = Api(lambda key_id: runtime().resolve_tenant(key_id))
LIST_QUERY_FIELDS = ("item_ids", "itemIds", "exclude_items", "excludeOffers", "segments")


def _client() -> Client:
    identity = app.current_event.request_context.identity
    return Client(app.request_id(), identity.source_ip, identity.user_agent, app.gateway_request_id())


def _remaining_ms() -> int | None:
    return app.lambda_context.get_remaining_time_in_millis() if app.lambda_context is not None else None


def _answer(body: RecommendRequest):
    rec = service.recommend(runtime().recommending, app.caller(), body.to_call(), _client(), _remaining_ms())
    if app.current_event.path.startswith("/api/") and app.dialect("recommendai", ("customerId",), "decisioning") == "recommendai":
        return app.json(200, *recommendai_items(rec))
    return app.json(200, recommend_body(rec))


@app.post("/v1/recommend")
@app.post("/api/v1/recommend")
def recommend_post():
    """A ranked list (or one per placement) for a user or session; see the request schema for aliases."""
    return _answer(app.body(RecommendRequest))


@app.get("/v1/recommend")
@app.get("/api/v1/recommend")
def recommend_get():
    """The query-string variant: list fields are comma-separated (`item_ids=a,b`)."""
    return _answer(app.query(RecommendRequest, lists=LIST_QUERY_FIELDS))


@app.post("/v1/recommend/validate")
def validate_request():
    """Full validation and the warnings a request would get, without ranking or metering."""
    body = app.body(RecommendRequest)
    resolved = service.validate(runtime().recommending, app.caller(), body.to_call(), _client(), _remaining_ms())
    canonical = body.model_dump(exclude_none=True, exclude={"ignored_fields"})
    return app.json(200, validate_body(canonical, resolved, app.request_id()))


@instrumented(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event, context):
    return app.resolve(event, context)
