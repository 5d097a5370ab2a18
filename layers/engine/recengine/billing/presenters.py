"""Two thin presenters over the one billing service: canonical (/v1, snake_case, wrapped) and the
RecommendAI seed's wire format (/api, camelCase, bare arrays, `plan-<id>` ids)."""

from __future__ import annotations


SEED_PLAN_PREFIX = "plan-"


def seed_plan_id(plan_id: str) -> str:
    return f"{SEED_PLAN_PREFIX}{plan_id}"


def plan_id_of(value: str) -> str:
    """Accepts both `growth` and the seed's `plan-growth`."""
    return value.removeprefix(SEED_PLAN_PREFIX)


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part.capitalize() for part in rest)


def camel(value: object) -> object:
    """snake_case keys to camelCase, recursively (values untouched)."""
    if isinstance(value, dict):
        return {_camel(k): camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camel(v) for v in value]
    return value


# canonical (/v1)
def plans_body(plans: list[dict]) -> dict:
    return {"plans": plans}


def invoices_body(invoices: list[dict]) -> dict:
    return {"invoices": invoices}


def portal_body(url: str) -> dict:
    return {"portal_url": url}


# seed (/api)
def seed_plan(plan: dict) -> dict:
    return camel({**plan, "id": seed_plan_id(plan["id"])})  # type: ignore[return-value]


def seed_plans_body(plans: list[dict]) -> list[dict]:
    return [seed_plan(p) for p in plans]


def seed_subscription_body(sub: dict) -> dict:
    return camel({**sub, "plan": seed_plan(sub["plan"])})  # type: ignore[return-value]


def seed_usage_body(report: dict) -> dict:
    """The seed's usage object: its twelve fields first, the rest of the report after them (camelCase)."""
    return camel({**report, "plan": seed_plan_id(report["plan"])})  # type: ignore[return-value]


def seed_invoices_body(invoices: list[dict]) -> list[dict]:
    return [camel({**i, "plan": seed_plan_id(i["plan"])}) for i in invoices]  # type: ignore[misc]


def seed_checkout_body(session: dict) -> dict:
    return camel({**session, "plan_id": seed_plan_id(session["plan_id"])})  # type: ignore[return-value]


def seed_portal_body(url: str) -> dict:
    return {"portalUrl": url}


class Presenter:
    """One wire format: the handler picks one per request, the services stay the same."""

    def __init__(self, *views) -> None:  # noqa: ANN002
        self.plans, self.subscription, self.usage, self.invoices, self.checkout, self.portal = views


def _same(value: dict) -> dict:
    return value


CANONICAL = Presenter(plans_body, _same, _same, invoices_body, _same, portal_body)
SEED = Presenter(seed_plans_body, seed_subscription_body,
                 seed_usage_body, seed_invoices_body, seed_checkout_body, seed_portal_body)


def view(app) -> Presenter:  # noqa: ANN001  (a resolver with the current event)
    """The seed's presenter on /api/*, the canonical one elsewhere."""
    return SEED if app.current_event.path.startswith("/api/") else CANONICAL
