"""Decision flows: POST/GET /v1/decisioning/flows, GET/PUT/DELETE /v1/decisioning/flows/{flow_key}."""

from urllib.parse import unquote

from aws_lambda_powertools.logging import correlation_paths

from recengine.decisioning import service as decisioning
from recengine.decisioning.presenters import list_body, object_body
from recengine.decisioning.schemas import FlowIn, NewFlowIn
from recengine.http.app import Api
from recengine.observability import lambda_handler as instrumented
from recengine.runtime import runtime

app = Api(lambda key_id: runtime().resolve_tenant(key_id))


@app.post("/v1/decisioning/flows")
def create_flow():
    """Stores a decision flow under its key (409 when taken, or past 50 flows)."""
    tenant, body = app.caller(), app.body(NewFlowIn)
    return app.json(201, object_body(decisioning.create_flow(runtime().decisioning, tenant.tenant_id,
                                                             body.to_flow(body.key))))


@app.get("/v1/decisioning/flows")
def list_flows():
    """Every one of the tenant's decision flows, oldest first."""
    return app.json(200, list_body("flows", decisioning.list_objects(runtime().decisioning, app.caller().tenant_id,
                                                                     "flow")))


@app.get("/v1/decisioning/flows/<flow_key>")
def get_flow(flow_key: str):
    """One of the tenant's decision flows (404 for an unknown key, or another tenant's)."""
    found = decisioning.get(runtime().decisioning, app.caller().tenant_id, "flow", unquote(flow_key))
    return app.json(200, object_body(found))


@app.put("/v1/decisioning/flows/<flow_key>")
def replace_flow(flow_key: str):
    """Replaces one of the tenant's decision flows whole, keeping its key."""
    tenant, key, body = app.caller(), unquote(flow_key), app.body(FlowIn)
    return app.json(200, object_body(decisioning.update(runtime().decisioning, tenant.tenant_id, "flow", key,
                                                        body.to_flow(key))))


@app.delete("/v1/decisioning/flows/<flow_key>")
def delete_flow(flow_key: str):
    """Deletes one of the tenant's decision flows; routing rules that name it route nowhere."""
    decisioning.delete(runtime().decisioning, app.caller().tenant_id, "flow", unquote(flow_key))
    return app.no_content()


@instrumented(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event, context):
    return app.resolve(event, context)
