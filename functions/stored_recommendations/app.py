"""Stored recommendations for the portal, with a portal token: batch generation's precomputed lists as
records; admins list, delete and generate; any account reads its own (its e-mail's end user's)."""

from aws_lambda_powertools.logging import correlation_paths

from recengine.batch import service as batch
from recengine.http.app import Api
from recengine.observability import lambda_handler as instrumented
from recengine.runtime import runtime
from recengine.stored_recommendations import presenters, service as stored
from recengine.stored_recommendations.schemas import (GenerateBody, MyRecommendationsQuery, RecommendationsQuery,
                                                      path_rec_id as _id, viewer)

app = Api(lambda key_id: runtime().resolve_tenant(key_id), lambda tenant_id: runtime().tenant_by_id(tenant_id))


@app.get("/api/recommendations")
def list_recommendations():
    q, tenant, rt = app.query(RecommendationsQuery), app.caller(), runtime()
    page = stored.list_recommendations(rt.stored_lists, rt.items, tenant.tenant_id, q.page, q.pageSize, q.userId,
                                       q.algorithm)
    return app.json(200, presenters.page_body(page))


@app.get("/api/recommendations/my")
def my_recommendations():
    q, tenant, rt = app.query(MyRecommendationsQuery), app.caller(), runtime()
    user_id = stored.linked_end_user(rt.end_users, tenant.tenant_id, viewer(app).email)
    page = stored.list_recommendations(rt.stored_lists, rt.items, tenant.tenant_id, q.page, q.pageSize, user_id,
                                       q.algorithm)
    return app.json(200, presenters.page_body(page))


@app.get("/api/recommendations/<rec_id>")
def get_recommendation(rec_id: str):
    tenant, rt, who = app.caller(), runtime(), viewer(app)
    owner = None if who.is_admin else stored.linked_end_user(rt.end_users, tenant.tenant_id, who.email)
    rec = stored.get_recommendation(rt.stored_lists, rt.items, tenant.tenant_id, _id(rec_id), owner)
    return app.json(200, presenters.recommendation_body(rec))


@app.delete("/api/recommendations/<rec_id>")
def delete_recommendation(rec_id: str):
    stored.delete_recommendation(runtime().stored_lists, app.caller().tenant_id, _id(rec_id))
    return app.no_content()


@app.post("/api/recommendations/generate")
def generate():
    body, tenant, rt = app.body(GenerateBody), app.caller(), runtime()
    started = stored.generate(lambda users: batch.start_batch_job(
        rt.jobs, rt.interactions, rt.batch_dispatcher, tenant, algorithm=body.algorithm, count=body.count,
        user_ids=users, seen=rt.seen_users, users_limit=rt.user_limit(tenant), timeouts=rt.job_timeouts,
        bucket=rt.settings.model_bucket), rt.end_users, rt.interactions, tenant.tenant_id, body.userSegment)
    return app.json(202, presenters.generation_body(started))


@instrumented(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event, context):
    return app.resolve(event, context)
