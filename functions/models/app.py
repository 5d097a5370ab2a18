"""Model registry for operators: GET /v1/models, GET /v1/models/{model_id}, POST .../promote and
.../rollback; on-demand training: POST /v1/models/train (202) and GET /v1/models/jobs/{job_id}."""

from urllib.parse import unquote

from aws_lambda_powertools.logging import correlation_paths

from recengine.http.app import Api
from recengine.models import jobs, promotion
from recengine.models.schemas import job_body, model_body
from recengine.observability import lambda_handler as instrumented
from recengine.runtime import runtime

app = Api(lambda key_id: runtime().resolve_tenant(key_id))


@app.get("/v1/models")
def list_models():
    live_id, versions = promotion.list_models(runtime().registry, app.caller().tenant_id)
    return app.json(200, {"live_model_id": live_id, "models": [model_body(v, live_id) for v in versions]})


@app.get("/v1/models/<model_id>")
def get_model(model_id: str):
    row, live_id = promotion.describe_model(runtime().registry, app.caller().tenant_id, unquote(model_id))
    return app.json(200, model_body(row, live_id))


@app.post("/v1/models/<model_id>/promote")
def promote(model_id: str):
    row = promotion.promote(runtime().registry, app.caller().tenant_id, unquote(model_id))
    return app.json(200, model_body(row, row["model_id"]))


@app.post("/v1/models/<model_id>/rollback")
def rollback(model_id: str):
    row = promotion.rollback(runtime().registry, app.caller().tenant_id, unquote(model_id))
    return app.json(200, model_body(row, row["model_id"]))


@app.post("/v1/models/train")
def train():
    tenant, rt = app.caller(), runtime()
    job = jobs.start_training_job(rt.jobs, rt.training_launcher, tenant, timeouts=rt.job_timeouts)
    return app.accepted(job_body(job), jobs.status_url(job["job_id"]))


@app.get("/v1/models/jobs/<job_id>")
def get_job(job_id: str):
    rt = runtime()
    return app.json(200, job_body(jobs.get_training_job(rt.jobs, app.caller().tenant_id, unquote(job_id),
                                                        rt.job_timeouts)))


@instrumented(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event, context):
    return app.resolve(event, context)
