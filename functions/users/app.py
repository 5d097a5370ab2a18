"""User erasure (right to be forgotten): DELETE /v1/users/{user_id} starts an erasure job (202 +
job id and status URL) that the erasure worker runs from its queue; GET /v1/users/erasures/{job_id}
reports its progress and outcome (what was deleted; never the user id)."""

from urllib.parse import unquote

from aws_lambda_powertools.logging import correlation_paths

from recengine.http.app import Api, validate
from recengine.observability import lambda_handler as instrumented
from recengine.runtime import runtime
from recengine.users import erasure
from recengine.users.schemas import ErasureTarget, erasure_body

app = Api(lambda key_id: runtime().resolve_tenant(key_id))


@app.delete("/v1/users/<user_id>")
def erase_user(user_id: str):
    """Erase a user: their history, sessions, exposures, stored and batch lists and seen marker.

    Idempotent: an unknown or already erased user gives a job that succeeds with nothing deleted."""
    tenant, rt = app.caller(), runtime()
    target = validate(ErasureTarget, {"user_id": unquote(user_id)})
    job = erasure.start_erasure_job(rt.jobs, rt.erasure_launcher, tenant.tenant_id, target.user_id)
    return app.accepted(erasure_body(job), erasure.status_url(job["job_id"]))


@app.get("/v1/users/erasures/<job_id>")
def get_erasure(job_id: str):
    """An erasure job: its status and, once it has succeeded, what it deleted."""
    rt = runtime()
    job = erasure.get_erasure_job(rt.jobs, app.caller().tenant_id, unquote(job_id), rt.job_timeouts)
    return app.json(200, erasure_body(job))


@instrumented(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event, context):
    return app.resolve(event, context)
