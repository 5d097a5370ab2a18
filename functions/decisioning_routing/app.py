"""Flow routing rules: GET/PUT /v1/decisioning/routing (which flow serves a channel / placement)."""

from aws_lambda_powertools.logging import correlation_paths

from recengine.decisioning import service as decisioning
from recengine.decisioning.presenters import routes_body
from recengine.decisioning.schemas import RoutingIn
from recengine.http.app import Api
from recengine.observability import lambda_handler as instrumented
from recengine.runtime import runtime

app = Api(lambda key_id: runtime().resolve_tenant(key_id))


@app.get("/v1/decisioning/routing")
def get_routing():
    """The tenant's routing rules: which flow serves a channel / placement when a request names none."""
    return app.json(200, routes_body(decisioning.get_routes(runtime().decisioning, app.caller().tenant_id)))


@app.put("/v1/decisioning/routing")
def put_routing():
    """Replaces the tenant's routing rules (each names one of its flows; the most specific match wins)."""
    tenant, body = app.caller(), app.body(RoutingIn)
    return app.json(200, routes_body(decisioning.put_routes(runtime().decisioning, tenant.tenant_id, body.to_routes())))


@instrumented(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event, context):
    return app.resolve(event, context)
