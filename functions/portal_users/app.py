"""The tenant's end users for the portal (RecommendAI's "Users (Admin)"), with a portal token; DELETE
erases the user's data as DELETE /v1/users/{user_id} does: 204 once the erasure job is queued."""

from aws_lambda_powertools.logging import correlation_paths

from recengine.http.app import Api
from recengine.observability import lambda_handler as instrumented
from recengine.portal import presenters, users as end_users
from recengine.portal.schemas import EndUserBody, EndUserUpdate, UsersQuery, path_user_id as _id
from recengine.runtime import runtime
from recengine.users import erasure

app = Api(lambda key_id: runtime().resolve_tenant(key_id), lambda tenant_id: runtime().tenant_by_id(tenant_id))

@app.get("/api/users")
def list_users():
    q, tenant = app.query(UsersQuery), app.caller()
    users, total = end_users.list_users(runtime().end_users, tenant.tenant_id, q.page, q.pageSize, q.search)
    return app.json(200, presenters.users_page(users, total, q.page, q.pageSize))


@app.get("/api/users/<user_id>")
def get_user(user_id: str):
    rt = runtime()
    user, last_active = end_users.get_user(rt.end_users, rt.interactions, app.caller().tenant_id, _id(user_id))
    return app.json(200, presenters.end_user_body(user, last_active, with_activity=True))


@app.post("/api/users")
def create_user():
    body, tenant = app.body(EndUserBody), app.caller()
    user = end_users.create_user(runtime().end_users, tenant.tenant_id, body.draft())
    return app.json(201, presenters.end_user_body(user))


@app.put("/api/users/<user_id>")
def update_user(user_id: str):
    body, tenant = app.body(EndUserUpdate), app.caller()
    user = end_users.update_user(runtime().end_users, tenant.tenant_id, _id(user_id), body.draft())
    return app.json(200, presenters.end_user_body(user))


@app.patch("/api/users/<user_id>/toggle-status")
def toggle_status(user_id: str):
    return app.json(200, presenters.end_user_body(end_users.toggle_status(runtime().end_users, app.caller().tenant_id,
                                                                          _id(user_id))))


@app.delete("/api/users/<user_id>")
def delete_user(user_id: str):
    rt = runtime()  # the record, then all the user's data by an erasure job (its status URL in Location)
    job = end_users.delete_user(rt.end_users, app.caller().tenant_id, _id(user_id),
                                lambda tid, uid: erasure.start_erasure_job(rt.jobs, rt.erasure_launcher, tid, uid))
    return app.no_content(headers={"Location": erasure.status_url(job["job_id"])})


@instrumented(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event, context):
    return app.resolve(event, context)
