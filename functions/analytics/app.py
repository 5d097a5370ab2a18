"""The portal's analytics (RecommendAI's "Analytics", admin portal token): the tenant's totals and
a daily series, read from the counters the traffic keeps (see recengine.analytics)."""

from aws_lambda_powertools.logging import correlation_paths

from recengine.analytics import presenters, service
from recengine.analytics.schemas import AnalyticsQuery
from recengine.http.app import Api
from recengine.observability import lambda_handler as instrumented
from recengine.runtime import runtime

app = Api(lambda key_id: runtime().resolve_tenant(key_id), lambda tenant_id: runtime().tenant_by_id(tenant_id))


@app.get("/api/analytics/stats")
def stats():
    return app.json(200, presenters.stats_body(service.stats(runtime().analytics, app.caller().tenant_id)))


@app.get("/api/analytics/data")
def data():
    q, tenant = app.query(AnalyticsQuery), app.caller()
    return app.json(200, presenters.series_body(service.series(runtime().analytics, tenant.tenant_id, q.period)))


@instrumented(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event, context):
    return app.resolve(event, context)
