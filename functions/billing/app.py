"""Billing: GET /v1/billing/plans (usage, invoices and the overage cap come with the billing issue)."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths

from recengine.api.http import create_app, current_tenant, json_response
from recengine.plans import PLANS

logger = Logger()
app = create_app(logger)


@app.get("/v1/billing/plans")
def plans():
    current_tenant(app)
    return json_response(app, 200, {"plans": [p.model_dump() for p in PLANS.values()]})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event, context):
    return app.resolve(event, context)
