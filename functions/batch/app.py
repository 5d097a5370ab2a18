"""Batch generation: POST /v1/recommendations/generate (202 + job id) and
GET /v1/recommendations/jobs/{job_id} (status and progress)."""

from urllib.parse import unquote

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths

from recengine.api.http import accepted, create_app, current_tenant, json_response, parse_body
from recengine.api.schemas import GenerateRequest, JobView
from recengine.errors import NotFoundError
from recengine.services import batch
from recengine.services.container import container

logger = Logger()
app = create_app(logger)


@app.post("/v1/recommendations/generate")
def generate():
    tenant = current_tenant(app)
    body = parse_body(app, GenerateRequest)
    c = container()
    job = batch.start_batch_job(c.registry, c.interactions, c.batch_dispatcher, tenant.tenant_id,
                                algorithm=body.algorithm, count=body.count, user_ids=body.user_ids,
                                bucket=c.settings.model_bucket)
    view = JobView.model_validate(batch.job_view(job)).model_dump(exclude_none=True)
    return accepted(app, view, f"/v1/recommendations/jobs/{job['job_id']}")


@app.get("/v1/recommendations/jobs/<job_id>")
def get_job(job_id: str):
    tenant = current_tenant(app)
    job = container().registry.get_job(tenant.tenant_id, unquote(job_id))
    if job is None or job.get("kind") != "batch":
        raise NotFoundError(f"batch job {unquote(job_id)!r} not found")
    return json_response(app, 200, JobView.model_validate(batch.job_view(job)).model_dump(exclude_none=True))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event, context):
    return app.resolve(event, context)
