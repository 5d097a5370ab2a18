"""Contact policies: POST/GET /v1/decisioning/policies, GET/PUT/DELETE /v1/decisioning/policies/{policy_id}."""

from urllib.parse import unquote

from aws_lambda_powertools.logging import correlation_paths

from recengine.decisioning import service as decisioning
from recengine.decisioning.presenters import list_body, object_body
from recengine.decisioning.schemas import PolicyIn
from recengine.http.app import Api
from recengine.observability import lambda_handler as instrumented
from recengine.runtime import runtime

app = Api(lambda key_id: runtime().resolve_tenant(key_id))


@app.post("/v1/decisioning/policies")
def create_policy():
    """Stores a contact policy under a new id.

    A frequency cap per offer, channel or placement, a cooldown after an outcome, or a daily maximum per
    customer; 409 past 50 policies."""
    tenant, draft = app.caller(), app.body(PolicyIn).to_policy()
    return app.json(201, object_body(decisioning.create(runtime().decisioning, tenant.tenant_id, "policy", draft)))


@app.get("/v1/decisioning/policies")
def list_policies():
    """Every one of the tenant's contact policies, oldest first."""
    found = decisioning.list_objects(runtime().decisioning, app.caller().tenant_id, "policy")
    return app.json(200, list_body("policies", found))


@app.get("/v1/decisioning/policies/<policy_id>")
def get_policy(policy_id: str):
    """One of the tenant's contact policies (404 for an unknown id, or another tenant's)."""
    found = decisioning.get(runtime().decisioning, app.caller().tenant_id, "policy", unquote(policy_id))
    return app.json(200, object_body(found))


@app.put("/v1/decisioning/policies/<policy_id>")
def replace_policy(policy_id: str):
    """Replaces one of the tenant's contact policies whole, keeping its id."""
    tenant, draft = app.caller(), app.body(PolicyIn).to_policy()
    return app.json(200, object_body(decisioning.update(runtime().decisioning, tenant.tenant_id, "policy",
                                                        unquote(policy_id), draft)))


@app.delete("/v1/decisioning/policies/<policy_id>")
def delete_policy(policy_id: str):
    """Deletes one of the tenant's contact policies. Flows that name it skip it from then on."""
    decisioning.delete(runtime().decisioning, app.caller().tenant_id, "policy", unquote(policy_id))
    return app.no_content()


@instrumented(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event, context):
    return app.resolve(event, context)
