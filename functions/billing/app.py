"""Billing: GET /v1/billing/plans (public), GET current / usage / invoices, PUT overage-cap,
POST checkout (501 until a payment provider is configured)."""

from aws_lambda_powertools.logging import correlation_paths

from recengine.billing import service as billing
from recengine.billing.payments import checkout as start_checkout
from recengine.billing.schemas import CheckoutRequest, OverageCapRequest
from recengine.http.app import Api
from recengine.observability import lambda_handler as instrumented
from recengine.runtime import runtime

app = Api(lambda key_id: runtime().resolve_tenant(key_id))


@app.get("/v1/billing/plans")
def plans():
    """The plans and their limits and prices (public)."""
    return app.json(200, {"plans": billing.plan_catalogue()})


@app.get("/v1/billing/current")
def current():
    """The tenant's plan and the current billing period."""
    return app.json(200, billing.subscription(app.caller()))


@app.get("/v1/billing/usage")
def usage():
    """This period's metered calls, overage, and item and user counts against the plan."""
    return app.json(200, billing.usage_report(runtime().usage, app.caller()))


@app.put("/v1/billing/overage-cap")
def overage_cap():
    """Sets this period's overage budget (402 once it is spent)."""
    tenant, body = app.caller(), app.body(OverageCapRequest)
    return app.json(200, billing.set_overage_cap(runtime().usage, tenant, body.cap_amount))


@app.get("/v1/billing/invoices")
def invoices():
    """One invoice per closed billing period."""
    return app.json(200, {"invoices": billing.invoices(runtime().usage, app.caller())})


@app.post("/v1/billing/checkout")
def checkout():
    """Starts a plan change through the payment provider (501 until one is configured)."""
    tenant, body = app.caller(), app.body(CheckoutRequest)
    return app.json(200, start_checkout(runtime().payments, tenant, body.plan_id, body.interval))


@instrumented(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event, context):
    return app.resolve(event, context)
