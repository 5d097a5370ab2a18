"""Billing: GET /v1/billing/plans (public), GET current / usage / invoices, PUT overage-cap,
POST checkout (501 until a payment provider is configured)."""

from typing import Literal

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from pydantic import BaseModel, ConfigDict, Field, field_validator

from recengine.api.http import create_app, current_tenant, json_response, parse_body
from recengine.plans import PLANS
from recengine.services import billing
from recengine.services.container import container

logger = Logger()
app = create_app(logger)


class OverageCapRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cap_amount: float = Field(ge=0, le=billing.MAX_OVERAGE_CAP, allow_inf_nan=False)


class CheckoutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan_id: str
    interval: Literal["monthly", "annual"] = "monthly"

    @field_validator("plan_id")
    @classmethod
    def _known(cls, plan_id: str) -> str:
        if plan_id not in PLANS:
            raise ValueError(f"plan_id must be one of {', '.join(PLANS)}")
        return plan_id


@app.get("/v1/billing/plans")
def plans():
    """The plans and their limits and prices (public)."""
    return json_response(app, 200, {"plans": billing.plan_catalogue()})


@app.get("/v1/billing/current")
def current():
    """The tenant's plan and the current billing period."""
    return json_response(app, 200, billing.subscription(current_tenant(app)))


@app.get("/v1/billing/usage")
def usage():
    """This period's metered calls, overage, and item and user counts against the plan."""
    return json_response(app, 200, billing.usage_report(container().usage, current_tenant(app)))


@app.put("/v1/billing/overage-cap")
def overage_cap():
    """Sets this period's overage budget (402 once it is spent)."""
    tenant = current_tenant(app)
    body = parse_body(app, OverageCapRequest)
    report = billing.set_overage_cap(container().usage, tenant, body.cap_amount)
    logger.info("overage cap set", extra={"tenant_id": tenant.tenant_id, "cap": report["overage_budget_cap"]})
    return json_response(app, 200, report)


@app.get("/v1/billing/invoices")
def invoices():
    """One invoice per closed billing period."""
    return json_response(app, 200, {"invoices": billing.invoices(container().usage, current_tenant(app))})


@app.post("/v1/billing/checkout")
def checkout():
    """Starts a plan change through the payment provider (501 until one is configured)."""
    tenant = current_tenant(app)
    body = parse_body(app, CheckoutRequest)
    return json_response(app, 200, billing.checkout(container().payments, tenant, body.plan_id, body.interval))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event, context):
    return app.resolve(event, context)
