"""Batch generation: POST /v1/recommendations/generate (202 + job id) and
GET /v1/recommendations/jobs/{job_id} (status and progress); the nightly schedule's event
({"action": "nightly"}, or any EventBridge scheduled event) starts a generate job for every
tenant that enabled nightly batches."""

from urllib.parse import unquote

from aws_lambda_powertools.logging import correlation_paths

from recengine.batch import service as batch
from recengine.batch.nightly import is_nightly_event, run_nightly
from recengine.batch.schemas import GenerateRequest
from recengine.http.app import Api
from recengine.models.schemas import job_body
from recengine.observability import lambda_handler as instrumented
from recengine.runtime import runtime

app = Api(lambda key_id: runtime().resolve_tenant(key_id))


@app.post("/v1/recommendations/generate")
def generate():
    tenant, body, rt = app.caller(), app.body(GenerateRequest), runtime()
    job = batch.start_batch_job(rt.jobs, rt.interactions, rt.batch_dispatcher, tenant, algorithm=body.algorithm,
                                count=body.count, user_ids=body.user_ids, seen=rt.seen_users,
                                users_limit=rt.user_limit(tenant), timeouts=rt.job_timeouts,
                                bucket=rt.settings.model_bucket)
    return app.accepted(job_body(batch.job_view(job)), batch.status_url(job["job_id"]))


@app.get("/v1/recommendations/jobs/<job_id>")
def get_job(job_id: str):
    rt = runtime()
    job = batch.get_batch_job(rt.jobs, app.caller().tenant_id, unquote(job_id), rt.job_timeouts)
    return app.json(200, job_body(batch.job_view(job)))


@instrumented(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event, context):
    if is_nightly_event(event):
        rt = runtime()
        return run_nightly(rt.nightly, rt.tenants, rt.jobs, rt.interactions, rt.batch_dispatcher,
                           bucket=rt.settings.model_bucket, timeouts=rt.job_timeouts)
    return app.resolve(event, context)
