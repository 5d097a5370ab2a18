"""/v1/recommend (GET, POST; /api/v1 in RecommendAI's or, with a `customerId`, the decisioning dialect), validate."""

from aws_lambda_powertools.logging import correlation_paths

from recengine.errors import ForbiddenError, UnauthorizedError
from recengine.http.app import Api
from recengine.decisioning import serving
from recengine.observability import lambda_handler as instrumented
from recengine.ranking import presenters as present, service
from recengine.ranking.query import Client
from recengine.ranking.schemas import RecommendRequest
from recengine.runtime import runtime

app = Api(lambda key_id: runtime().resolve_tenant(key_id))
LIST_QUERY_FIELDS = ("item_ids", "itemIds", "exclude_items", "excludeOffers", "segments")


def _client() -> Client:
    identity = app.current_event.request_context.identity
    return Client(app.request_id(), identity.source_ip, identity.user_agent, app.gateway_request_id())


def _answer(body: RecommendRequest):
    on_api = app.current_event.path.startswith("/api/")  # /v1 is always canonical
    dialect = app.dialect("recommendai", ("customerId",), "decisioning") if on_api else "v1"
    deciding = dialect == "decisioning"
    tenant, claimed = app.caller(UnauthorizedError if deciding else ForbiddenError), app.header("x-tenant-id")
    call, notes = present.decisioning_call(body.to_call(), app.sent(), claimed) if deciding else (body.to_call(), [])
    rec = serving.recommend(runtime().deciding, tenant, call, _client(), app.remaining_ms())
    if dialect == "recommendai":
        return app.json(200, *present.recommendai_items(rec))
    return app.json(200, present.decisioning_body(rec, notes) if deciding else present.recommend_body(rec))


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
    return app.json(200, present.validate_body(canonical, resolved, app.request_id()))


@instrumented(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event, context):
    return app.resolve(event, context)
