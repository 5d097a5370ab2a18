"""/v1/recommend (POST, GET; /api/v1: RecommendAI's array, or the decisioning dialect when a `customerId` is sent)
and /v1/recommend/validate: personalised, session- and context-aware lists with rules, placements, caps, traces."""

from aws_lambda_powertools.logging import correlation_paths

from recengine.http.app import Api
from recengine.decisioning import serving
from recengine.observability import lambda_handler as instrumented
from recengine.ranking import service
from recengine.ranking.presenters import (decisioning_body, decisioning_call, recommend_body, recommendai_items,
                                          validate_body)
from recengine.ranking.query import Client
from recengine.ranking.schemas import RecommendRequest
from recengine.runtime import runtime

app = Api(lambda key_id: runtime().resolve_tenant(key_id))
LIST_QUERY_FIELDS = ("item_ids", "itemIds", "exclude_items", "excludeOffers", "segments")


def _client() -> Client:
    identity = app.current_event.request_context.identity
    return Client(app.request_id(), identity.source_ip, identity.user_agent, app.gateway_request_id())


def _answer(body: RecommendRequest):
    api = app.current_event.path.startswith("/api/")
    dialect = app.dialect("recommendai", ("customerId",), "decisioning") if api else "v1"
    call, notes = decisioning_call(body.to_call(), app.sent()) if dialect == "decisioning" else (body.to_call(), [])
    rec = serving.recommend(runtime().deciding, app.caller(), call, _client(), app.remaining_ms())
    if dialect == "recommendai":
        return app.json(200, *recommendai_items(rec))
    return app.json(200, decisioning_body(rec, notes) if dialect == "decisioning" else recommend_body(rec))


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
    resolved = service.validate(runtime().recommending, app.caller(), body.to_call(), _client(), app.remaining_ms())
    canonical = body.model_dump(exclude_none=True, exclude={"ignored_fields"})
    return app.json(200, validate_body(canonical, resolved, app.request_id()))


@instrumented(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event, context):
    return app.resolve(event, context)
