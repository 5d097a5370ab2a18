"""Model registry for operators: GET /v1/models, GET /v1/models/{model_id}, POST .../promote and
.../rollback; on-demand training: POST /v1/models/train (202) and GET /v1/models/jobs/{job_id}."""

from urllib.parse import unquote

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths

from recengine.api.http import accepted, create_app, current_tenant, json_response
from recengine.api.schemas import JobView, ModelView
from recengine.errors import NotFoundError
from recengine.services import jobs
from recengine.services import registry as models
from recengine.services.container import container
from recengine.services.training import start_training_job

logger = Logger()
app = create_app(logger)


def _view(row: dict, live_id: str | None) -> dict:
    return ModelView.model_validate(models.public_view(row, live_id)).model_dump(exclude_none=True)


@app.get("/v1/models")
def list_models():
    tenant = current_tenant(app)
    registry = container().registry
    live_id = registry.live_model_id(tenant.tenant_id)
    versions = sorted(registry.versions(tenant.tenant_id), key=lambda r: -r.get("version", 0))
    return json_response(app, 200, {"live_model_id": live_id, "models": [_view(v, live_id) for v in versions]})


@app.get("/v1/models/<model_id>")
def get_model(model_id: str):
    tenant = current_tenant(app)
    registry = container().registry
    row = models.get_model(registry, tenant.tenant_id, unquote(model_id))
    return json_response(app, 200, _view(row, registry.live_model_id(tenant.tenant_id)))


@app.post("/v1/models/<model_id>/promote")
def promote(model_id: str):
    tenant = current_tenant(app)
    registry = container().registry
    row = models.promote(registry, tenant.tenant_id, unquote(model_id))
    logger.info("model promoted by operator", extra={"tenant_id": tenant.tenant_id, "model_id": row["model_id"]})
    return json_response(app, 200, _view(row, row["model_id"]))


@app.post("/v1/models/<model_id>/rollback")
def rollback(model_id: str):
    tenant = current_tenant(app)
    registry = container().registry
    row = models.rollback(registry, tenant.tenant_id, unquote(model_id))
    logger.info("model rolled back", extra={"tenant_id": tenant.tenant_id, "from": unquote(model_id),
                                            "to": row["model_id"]})
    return json_response(app, 200, _view(row, row["model_id"]))


@app.post("/v1/models/train")
def train():
    tenant = current_tenant(app)
    c = container()
    job = start_training_job(c.registry, c.training_launcher, tenant.tenant_id)
    body = JobView.model_validate(job).model_dump(exclude_none=True)
    return accepted(app, body, f"/v1/models/jobs/{job['job_id']}")


@app.get("/v1/models/jobs/<job_id>")
def get_job(job_id: str):
    tenant = current_tenant(app)
    # A job whose Lambda died stays `running` in its row: reported (and recorded) as timed out.
    job = jobs.get_job(container().registry, tenant.tenant_id, unquote(job_id), timeouts=jobs.JobTimeouts.from_env())
    if job is None or job.get("kind", "train") != "train":
        raise NotFoundError(f"training job {unquote(job_id)!r} not found")
    return json_response(app, 200, JobView.model_validate(job).model_dump(exclude_none=True))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event, context):
    return app.resolve(event, context)
