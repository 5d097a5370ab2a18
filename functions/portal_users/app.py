"""The tenant's end users for the portal (RecommendAI's "Users (Admin)"): GET/POST /api/users,
GET/PUT/DELETE /api/users/{id}, PATCH /api/users/{id}/toggle-status. Called with a portal token
(the tenant and role from the authorizer) or an API key; DELETE erases the user's data as
DELETE /v1/users/{user_id} does and answers 204 once the erasure job is queued."""

from urllib.parse import unquote

from aws_lambda_powertools.logging import correlation_paths

from recengine.errors import InvalidArgumentError
from recengine.http.app import Api, validate
from recengine.observability import lambda_handler as instrumented
from recengine.portal import presenters
from recengine.portal import users as end_users
from recengine.portal.schemas import EndUserBody, EndUserPath, UsersQuery
from recengine.runtime import runtime
from recengine.users import erasure

app = Api(lambda key_id: runtime().resolve_tenant(key_id), lambda tenant_id: runtime().tenant_by_id(tenant_id))


def _user_id(raw: str) -> str:
    return validate(EndUserPath, {"user_id": unquote(raw)}).user_id


def _draft(body: EndUserBody, user_id: str | None = None) -> end_users.EndUserDraft:
    return end_users.EndUserDraft(body.email, body.name, body.role, body.isActive, user_id or body.id)


@app.get("/api/users")
def list_users():
    query, tenant = app.query(UsersQuery), app.caller()
    users, total = end_users.list_users(runtime().end_users, tenant.tenant_id, query.page, query.pageSize, query.search)
    return app.json(200, presenters.users_page(users, total, query.page, query.pageSize))


@app.get("/api/users/<user_id>")
def get_user(user_id: str):
    tenant, rt = app.caller(), runtime()
    user, last_active = end_users.get_user(rt.end_users, rt.interactions, tenant.tenant_id, _user_id(user_id))
    return app.json(200, presenters.end_user_body(user, last_active, with_activity=True))


@app.post("/api/users")
def create_user():
    body, tenant = app.body(EndUserBody), app.caller()
    user = end_users.create_user(runtime().end_users, tenant.tenant_id, _draft(body))
    return app.json(201, presenters.end_user_body(user))


@app.put("/api/users/<user_id>")
def update_user(user_id: str):
    body, tenant, uid = app.body(EndUserBody), app.caller(), _user_id(user_id)
    if body.id is not None and body.id != uid:
        raise InvalidArgumentError("the body's id is not the path's: a user cannot be renamed")
    user = end_users.update_user(runtime().end_users, tenant.tenant_id, uid, _draft(body, uid))
    return app.json(200, presenters.end_user_body(user))


@app.patch("/api/users/<user_id>/toggle-status")
def toggle_status(user_id: str):
    tenant = app.caller()
    user = end_users.toggle_status(runtime().end_users, tenant.tenant_id, _user_id(user_id))
    return app.json(200, presenters.end_user_body(user))


@app.delete("/api/users/<user_id>")
def delete_user(user_id: str):
    """The record at once, the user's data through an erasure job (GET /v1/users/erasures/{job_id}
    reports it; its URL is in the Location header)."""
    tenant, rt = app.caller(), runtime()
    job = end_users.delete_user(rt.end_users, tenant.tenant_id, _user_id(user_id),
                                lambda tid, uid: erasure.start_erasure_job(rt.jobs, rt.erasure_launcher, tid, uid))
    response = app.no_content()
    response.headers["Location"] = erasure.status_url(job["job_id"])
    return response


@instrumented(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event, context):
    return app.resolve(event, context)
