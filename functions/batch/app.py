"""Batch generation: POST /v1/recommendations/generate (202 + job id) and
GET /v1/recommendations/jobs/{job_id} (status and progress); the nightly schedule's event
({"action": "nightly"}, or any EventBridge scheduled event) starts a generate job for every
tenant that enabled nightly batches."""

from urllib.parse import unquote

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths

from recengine.api.http import accepted, create_app, current_tenant, json_response, parse_body
from recengine.api.schemas import GenerateRequest, JobView
from recengine.errors import NotFoundError
from recengine.services import batch, jobs
from recengine.services.container import container

logger = Logger()
app = create_app(logger)

SCHEDULE_SOURCES = ("aws.events", "aws.scheduler")


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
    # A job whose workers died stays `running` in its row: reported (and recorded) as timed out.
    job = jobs.get_job(container().registry, tenant.tenant_id, unquote(job_id), timeouts=jobs.JobTimeouts.from_env())
    if job is None or job.get("kind") != "batch":
        raise NotFoundError(f"batch job {unquote(job_id)!r} not found")
    return json_response(app, 200, JobView.model_validate(batch.job_view(job)).model_dump(exclude_none=True))


def is_nightly_event(event: object) -> bool:
    """The schedule's input, or a plain EventBridge scheduled event; an API event never is."""
    if not isinstance(event, dict) or "httpMethod" in event or "requestContext" in event:
        return False
    return event.get("action") == "nightly" or event.get("source") in SCHEDULE_SOURCES


def nightly() -> dict:
    c = container()
    summary = jobs.start_nightly_batches(c.tenants, c.registry, c.interactions, c.batch_dispatcher,
                                        bucket=c.settings.model_bucket, timeouts=jobs.JobTimeouts.from_env())
    if summary["failed"]:
        # Fail the invocation so the scheduler's retry and the error alarm see it; a retry skips
        # the tenants whose nightly job already started.
        raise RuntimeError(f"nightly batch failed for {len(summary['failed'])} tenant(s)")
    return summary


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event, context):
    if is_nightly_event(event):
        return nightly()
    return app.resolve(event, context)
