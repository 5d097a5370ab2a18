"""Stored qualification rules: POST/GET /v1/decisioning/rules, GET/PUT/DELETE /v1/decisioning/rules/{rule_id}."""

from urllib.parse import unquote

from aws_lambda_powertools.logging import correlation_paths

from recengine.decisioning import service as decisioning
from recengine.decisioning.presenters import list_body, object_body
from recengine.decisioning.schemas import RuleIn
from recengine.http.app import Api
from recengine.observability import lambda_handler as instrumented
from recengine.runtime import runtime

app = Api(lambda key_id: runtime().resolve_tenant(key_id))


@app.post("/v1/decisioning/rules")
def create_rule():
    """Stores a qualification rule under a new id.

    Which offers a request qualifies for, from its segments, attributes and propensity scores; 409 past 200 rules."""
    tenant, draft = app.caller(), app.body(RuleIn).to_rule()
    return app.json(201, object_body(decisioning.create(runtime().decisioning, tenant.tenant_id, "rule", draft)))


@app.get("/v1/decisioning/rules")
def list_rules():
    """Every one of the tenant's qualification rules, oldest first."""
    found = decisioning.list_objects(runtime().decisioning, app.caller().tenant_id, "rule")
    return app.json(200, list_body("rules", found))


@app.get("/v1/decisioning/rules/<rule_id>")
def get_rule(rule_id: str):
    """One of the tenant's qualification rules (404 for an unknown id, or another tenant's)."""
    found = decisioning.get(runtime().decisioning, app.caller().tenant_id, "rule", unquote(rule_id))
    return app.json(200, object_body(found))


@app.put("/v1/decisioning/rules/<rule_id>")
def replace_rule(rule_id: str):
    """Replaces one of the tenant's qualification rules whole, keeping its id."""
    tenant, draft = app.caller(), app.body(RuleIn).to_rule()
    return app.json(200, object_body(decisioning.update(runtime().decisioning, tenant.tenant_id, "rule",
                                                        unquote(rule_id), draft)))


@app.delete("/v1/decisioning/rules/<rule_id>")
def delete_rule(rule_id: str):
    """Deletes one of the tenant's qualification rules. Flows that name it skip it from then on."""
    decisioning.delete(runtime().decisioning, app.caller().tenant_id, "rule", unquote(rule_id))
    return app.no_content()


@instrumented(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event, context):
    return app.resolve(event, context)
