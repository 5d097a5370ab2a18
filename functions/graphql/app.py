"""POST /graphql: RecommendAI's GraphQL operations (getRecommendations, getSimilarItems, getApiVersion,
getHealth; the recordInteraction mutation, which needs a write key) over the REST routes' services, with
the same API keys; schema in recengine/graphql/schema.graphql."""

from aws_lambda_powertools.logging import correlation_paths

from recengine.graphql.limits import MAX_BODY_BYTES, BodyTooLarge, body_too_large
from recengine.graphql.resolvers import GraphqlDeps
from recengine.graphql.service import GraphqlRequest, GraphqlResponse, execute  # noqa: F401 - the response: openapi
from recengine.http.app import Api
from recengine.http.problems import BadRequest, ValidationFailed
from recengine.observability import lambda_handler as instrumented
from recengine.ranking.query import Client
from recengine.runtime import runtime
from recengine.tenancy.roles import parse_role

app = Api(lambda key_id: runtime().resolve_tenant(key_id))


def _client() -> Client:
    identity = app.current_event.request_context.identity
    return Client(app.request_id(), identity.source_ip, identity.user_agent, app.gateway_request_id())


@app.post("/graphql")
def graphql():
    """One GraphQL request `{query, variables?, operationName?}` (at most 64 KB): 200 with `data` and `errors[]`
    (each with `extensions.code`); 400 for a body that is not a GraphQL request.

    Limits: depth 6, 20 root fields (aliases included) per operation, `count` 1..100. Introspection is on."""
    tenant = app.caller()
    if body_too_large(app.current_event.body):
        raise BodyTooLarge(f"the request body is over {MAX_BODY_BYTES} bytes")
    try:
        request = app.body(GraphqlRequest)
    except ValidationFailed as exc:  # GraphQL over HTTP: a body that is not a GraphQL request is a 400
        raise BadRequest("the body must be a JSON object {query, variables?, operationName?}",
                         errors=exc.errors) from None
    c = runtime()
    deps = GraphqlDeps(c.recommending, c.similar, c.ingesting)
    role = parse_role(app.current_event.request_context.authorizer.get("role"))
    return app.json(*execute(deps, tenant, role, request, _client(), app.remaining_ms))


@instrumented(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event, context):
    return app.resolve(event, context)
