"""Experiments: POST/GET /v1/experiments, GET/PUT/DELETE /v1/experiments/{experiment_id}."""

from urllib.parse import unquote

from aws_lambda_powertools.logging import correlation_paths

from recengine.decisioning import service as decisioning
from recengine.decisioning.presenters import list_body, object_body
from recengine.decisioning.schemas import ExperimentIn
from recengine.http.app import Api
from recengine.observability import lambda_handler as instrumented
from recengine.runtime import runtime

app = Api(lambda key_id: runtime().resolve_tenant(key_id))


@app.post("/v1/experiments")
def create_experiment():
    """Stores an experiment under a new id.

    A traffic split between flows or model versions by a stable hash of the customer key; 409 past 20 experiments."""
    tenant, draft = app.caller(), app.body(ExperimentIn).to_experiment()
    return app.json(201, object_body(decisioning.create(runtime().decisioning, tenant.tenant_id, "experiment", draft)))


@app.get("/v1/experiments")
def list_experiments():
    """Every one of the tenant's experiments, oldest first."""
    found = decisioning.list_objects(runtime().decisioning, app.caller().tenant_id, "experiment")
    return app.json(200, list_body("experiments", found))


@app.get("/v1/experiments/<experiment_id>")
def get_experiment(experiment_id: str):
    """One of the tenant's experiments (404 for an unknown id, or another tenant's)."""
    found = decisioning.get(runtime().decisioning, app.caller().tenant_id, "experiment", unquote(experiment_id))
    return app.json(200, object_body(found))


@app.put("/v1/experiments/<experiment_id>")
def replace_experiment(experiment_id: str):
    """Replaces one of the tenant's experiments whole, keeping its id."""
    tenant, draft = app.caller(), app.body(ExperimentIn).to_experiment()
    return app.json(200, object_body(decisioning.update(runtime().decisioning, tenant.tenant_id, "experiment",
                                                        unquote(experiment_id), draft)))


@app.delete("/v1/experiments/<experiment_id>")
def delete_experiment(experiment_id: str):
    """Deletes one of the tenant's experiments. Customers already assigned keep their logged assignments."""
    decisioning.delete(runtime().decisioning, app.caller().tenant_id, "experiment", unquote(experiment_id))
    return app.no_content()


@instrumented(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event, context):
    return app.resolve(event, context)
