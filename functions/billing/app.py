"""Billing on /v1/billing/* and /api/billing/* (key or portal token); checkout and portal on Stripe (501 without)."""
from aws_lambda_powertools.logging import correlation_paths

from recengine.billing import payments, service as billing
from recengine.billing.presenters import view
from recengine.billing.schemas import CheckoutRequest, OverageCapRequest
from recengine.observability import lambda_handler as instrumented
from recengine.runtime import key_or_token_api, runtime

app = key_or_token_api()


@app.get("/v1/billing/plans")
@app.get("/api/billing/plans")
def plans():
    return app.json(200, view(app).plans(billing.plan_catalogue()))


@app.get("/v1/billing/current")
@app.get("/api/billing/current")
def current():
    return app.json(200, view(app).subscription(billing.subscription(app.caller())))


@app.get("/v1/billing/usage")
@app.get("/api/billing/usage")
def usage():
    return app.json(200, view(app).usage(billing.usage_report(runtime().usage, app.caller())))


@app.put("/v1/billing/overage-cap")
@app.put("/api/billing/overage-cap")
def overage_cap():
    tenant, body = app.caller(), app.body(OverageCapRequest)
    return app.json(200, view(app).usage(billing.set_overage_cap(runtime().usage, tenant, body.cap_amount)))


@app.get("/v1/billing/invoices")
@app.get("/api/billing/invoices")
def invoices():
    return app.json(200, view(app).invoices(billing.invoices(runtime().usage, app.caller())))


@app.post("/v1/billing/checkout")
@app.post("/api/billing/checkout")
def checkout():
    tenant, body, retry_id = app.caller(), app.body(CheckoutRequest), app.request_id()  # a retry: the same session
    return app.json(200, view(app).checkout(payments.checkout(runtime().payments, tenant, *body.plan, retry_id)))


@app.post("/v1/billing/portal")
@app.post("/api/billing/portal")
def portal():
    return app.json(200, view(app).portal(payments.portal(runtime().payments, app.caller())))


@instrumented(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event, context):
    return app.resolve(event, context)
