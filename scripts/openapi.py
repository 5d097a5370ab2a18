"""Generates docs/openapi.json from the code, so the published contract cannot drift from it.

    python scripts/openapi.py           # writes docs/openapi.json
    python scripts/openapi.py --check   # exits 1, with a diff summary, if the committed file is stale

Where each part comes from:
  * Powertools (`app.get_openapi_schema()` of every function's resolver, validation left off): the
    paths, methods, operation ids and path parameters; summaries and descriptions come from the
    route functions' docstrings (Powertools only takes them as decorator arguments).
  * template.yaml: which functions serve the API and which routes are public (no API key).
  * pydantic: request bodies and query parameters from the models the handlers parse (OPERATIONS),
    response bodies from each domain's response models, all under components/schemas.
  * recengine.http.problems: the problem+json error responses.
  * recengine.tenancy.roles: the role each keyed route needs (`x-required-role`), and the 403
    `/problems/insufficient-scope` on the routes that need more than `read`.
"""

# No `from __future__ import annotations`: tests load this file with importlib without registering
# it in sys.modules, and dataclasses then cannot resolve string annotations.
import argparse
import difflib
import inspect
import json
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT / "layers" / "engine", ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from aws_lambda_powertools.event_handler import APIGatewayRestResolver  # noqa: E402
from aws_lambda_powertools.event_handler.openapi.models import (APIKey, APIKeyIn, HTTPBearer, OpenAPI,  # noqa: E402
                                                                Server, ServerVariable)
from pydantic import AliasChoices, BaseModel, TypeAdapter  # noqa: E402

import recengine  # noqa: E402
from local.gateway import load_handler  # noqa: E402
from scripts.openapi_bounds import bound_requests  # noqa: E402
from local.template import Route, routes, stage_name  # noqa: E402
from recengine.analytics import responses as analytics  # noqa: E402
from recengine.attribution import responses as attribution  # noqa: E402
from recengine.billing import responses as billing  # noqa: E402
from recengine.catalogue import responses as catalogue  # noqa: E402
from recengine.decisioning import responses as decisioning  # noqa: E402
from recengine.events import responses as events  # noqa: E402
from recengine.graphql.service import GraphqlResponse  # noqa: E402
from recengine.http import schemas as shared  # noqa: E402
from recengine.http.problems import PROBLEM_JSON, TITLES  # noqa: E402
from recengine.models import schemas as models  # noqa: E402
from recengine.ranking import responses as ranking  # noqa: E402
from recengine.ranking.schemas import RECOMMEND_ALIASES, RecommendRequest  # noqa: E402
from recengine.stored_recommendations import responses as stored  # noqa: E402
from recengine.tenancy.roles import ROUTE_ROLES, Role  # noqa: E402
from recengine.users import schemas as users  # noqa: E402

OUTPUT = ROOT / "docs" / "openapi.json"
TITLE = "recengine API"
REF = "#/components/schemas/{model}"
SECURITY = [{"ApiKey": []}, {"BearerKey": []}]  # either one: the authorizer accepts both
PORTAL_SECURITY = [{"PortalToken": []}]  # the portal's routes: a Cognito ID token, no API key


def portal_route(route: Route) -> bool:
    """A route behind the authorizer that requires no API key: it takes a portal token."""
    return not route.api_key_required and route.authorizer is not None
# Path parameters a handler validates as a wire type (the resolver documents them as plain strings).
VALIDATED_PATH_PARAMETERS = {"user_id": {k: v for k, v in TypeAdapter(shared.Id).json_schema().items() if k != "type"}}


@dataclass(frozen=True)
class Op:
    """What Powertools cannot see: the handler parses its input by hand and answers a plain dict."""

    body: str | None = None  # the request body model, by its name in the handler's module
    query: str | None = None  # the query-string model, by its name in the handler's module
    ok: dict[int, str] = field(default_factory=lambda: {200: "OK."})
    response: tuple[type[BaseModel], ...] = ()  # the success body; several: one of them
    errors: tuple[int, ...] = ()  # beyond what every route of its kind can answer (see _error_statuses)


_RECOMMEND = Op(body="RecommendRequest", response=(ranking.RecommendResponse, ranking.GroupedRecommendResponse),
                errors=(402, 404, 408))
# GET cannot carry objects (placements), so it always answers a single list.
_RECOMMEND_GET = Op(query="RecommendRequest", response=(ranking.RecommendResponse,), errors=(402, 404, 408))
_INTERACTIONS = Op(body="InteractionsRequest", errors=(402, 409), response=(events.InteractionsResponse,),
                  ok={200: "OK: every event was a duplicate (by `event_id`).",
                      201: "Created: at least one event was new.",
                      207: "Multi-Status: some entries were rejected (see `rejected`: invalid, or `conflict`); the "
                           "others were recorded."})
_CREATED = {201: "Created."}
_DELETED = {204: "Deleted."}
# /api/* answers in the RecommendAI dialect; /api/v1/recommend, shared with offer-decisioning clients, answers
# them in their dialect (`decisions`) when the request names a `customerId`; `X-Api-Dialect` chooses any.
_API_RECOMMEND = Op(body="RecommendRequest", errors=(402, 404, 408), response=(
    ranking.RecommendAIList, ranking.Decisions, ranking.GroupedDecisions, ranking.RecommendResponse,
    ranking.GroupedRecommendResponse))
_API_RECOMMEND_GET = Op(query="RecommendRequest", errors=(402, 404, 408), response=(
    ranking.RecommendAIList, ranking.Decisions, ranking.RecommendResponse))
_API_INTERACTIONS = Op(body="InteractionsRequest", errors=(402, 409),
                       response=(events.RecordedInteraction, events.InteractionsResponse), ok=_INTERACTIONS.ok)
_ACCEPTED = {202: "Accepted: the job runs on; poll `status_url` (also the Location header)."}

# The one table of what each route parses and answers; keyed like template.yaml's routes.
OPERATIONS: dict[tuple[str, str], Op] = {
    ("GET", "/health"): Op(response=(shared.Health,)),
    ("POST", "/v1/items"): Op(body="UpsertItemsRequest", errors=(402,), response=(catalogue.UpsertItemsResponse,),
                              ok={200: "OK: every item was stored.",
                                  207: "Multi-Status: some entries were rejected (see `rejected`); the others were "
                                       "stored."}),
    ("GET", "/v1/items"): Op(query="ListItemsQuery", errors=(400,)),
    ("GET", "/v1/items/{item_id}"): Op(),
    ("GET", "/api/items"): Op(query="NumberedItemsQuery", errors=(400,), response=(catalogue.NumberedItemPage,)),
    ("GET", "/api/items/{item_id}"): Op(response=(catalogue.SeedItem,)),
    ("DELETE", "/v1/items/{item_id}"): Op(ok={204: "Deactivated: the item is no longer recommended."}),
    ("POST", "/v1/interactions"): _INTERACTIONS,
    ("POST", "/api/v1/interactions"): _API_INTERACTIONS,
    ("POST", "/api/v1/respond"): Op(body="RespondRequest", errors=(402, 404, 422), response=(attribution.RecordedOutcome,),
                                    ok={201: "Created: the outcome is recorded against its decision.",
                                        200: "OK: this outcome of this offer in this decision was already recorded."}),
    ("POST", "/v1/recommend"): _RECOMMEND,
    ("GET", "/v1/recommend"): _RECOMMEND_GET,
    ("POST", "/api/v1/recommend"): _API_RECOMMEND,
    ("GET", "/api/v1/recommend"): _API_RECOMMEND_GET,
    ("POST", "/v1/recommend/validate"): Op(body="RecommendRequest", response=(ranking.ValidateResponse,)),
    ("POST", "/v1/similar"): Op(body="SimilarRequest", response=(ranking.SimilarResponse,), errors=(402, 404)),
    ("POST", "/api/v1/similar"): Op(body="SimilarRequest", response=(ranking.RecommendAISimilarList,
                                                                      ranking.SimilarResponse), errors=(402, 404)),
    ("POST", "/graphql"): Op(body="GraphqlRequest", response=(GraphqlResponse,), errors=(413,),
                             ok={200: "OK: GraphQL's answer, `data` and/or `errors[]` (each with `extensions.code`: "
                                      "BAD_USER_INPUT, UNAUTHENTICATED, FORBIDDEN, NOT_FOUND, PAYMENT_REQUIRED, "
                                      "RATE_LIMITED, SERVICE_UNAVAILABLE or INTERNAL). The schema is recengine/graphql/schema.graphql (introspection is on)."}),
    ("GET", "/v1/billing/plans"): Op(response=(billing.PlanList,)),
    ("GET", "/v1/billing/current"): Op(response=(billing.SubscriptionView,)),
    ("GET", "/v1/billing/usage"): Op(response=(billing.UsageView,)),
    ("PUT", "/v1/billing/overage-cap"): Op(body="OverageCapRequest", response=(billing.UsageView,)),
    ("GET", "/v1/billing/invoices"): Op(response=(billing.InvoiceList,)),
    ("POST", "/v1/billing/checkout"): Op(body="CheckoutRequest", errors=(501, 502), response=(billing.CheckoutView,)),
    ("POST", "/v1/billing/portal"): Op(errors=(409, 501, 502), response=(billing.PortalView,)),
    ("GET", "/api/billing/plans"): Op(response=(billing.SeedPlanList,)),
    ("GET", "/api/billing/current"): Op(response=(billing.SeedSubscription,)),
    ("GET", "/api/billing/usage"): Op(response=(billing.SeedUsage,)),
    ("PUT", "/api/billing/overage-cap"): Op(body="OverageCapRequest", response=(billing.SeedUsage,)),
    ("GET", "/api/billing/invoices"): Op(response=(billing.SeedInvoiceList,)),
    ("POST", "/api/billing/checkout"): Op(body="CheckoutRequest", errors=(501, 502), response=(billing.SeedCheckout,)),
    ("POST", "/api/billing/portal"): Op(errors=(409, 501, 502), response=(billing.SeedPortal,)),
    ("GET", "/v1/models"): Op(response=(models.ModelList,)),
    ("GET", "/v1/models/{model_id}"): Op(response=(models.ModelView,)),
    ("POST", "/v1/models/{model_id}/promote"): Op(response=(models.ModelView,), errors=(409,)),
    ("POST", "/v1/models/{model_id}/rollback"): Op(response=(models.ModelView,), errors=(409,)),
    ("POST", "/v1/models/train"): Op(ok=_ACCEPTED, response=(models.JobAccepted,), errors=(409,)),
    ("GET", "/v1/models/jobs/{job_id}"): Op(response=(models.JobView,)),
    ("POST", "/v1/recommendations/generate"): Op(body="GenerateRequest", ok=_ACCEPTED, response=(models.JobAccepted,),
                                                  errors=(402, 409)),
    ("GET", "/v1/recommendations/jobs/{job_id}"): Op(response=(models.JobView,)),
    ("DELETE", "/v1/users/{user_id}"): Op(ok=_ACCEPTED, response=(users.ErasureAccepted,), errors=(422,)),
    ("GET", "/v1/users/erasures/{job_id}"): Op(response=(users.ErasureJobView,)),
    # portal accounts (public) and the tenant's end users (a portal token: docs/adr/0005-portal-tokens.md)
    ("POST", "/api/auth/register"): Op(body="RegisterBody", ok={201: "Created: the account, never its password."},
                                       errors=(401, 403, 409)),
    ("POST", "/api/auth/login"): Op(body="LoginBody", errors=(401,)),
    ("POST", "/auth/v1/token"): Op(body="TokenBody", query="TokenQuery", errors=(401,)),
    ("GET", "/api/users"): Op(query="UsersQuery"),
    ("POST", "/api/users"): Op(body="EndUserBody", ok={201: "Created: the user."}, errors=(409,)),
    ("GET", "/api/users/{user_id}"): Op(),
    ("PUT", "/api/users/{user_id}"): Op(body="EndUserUpdate"),
    ("DELETE", "/api/users/{user_id}"): Op(ok={204: "Deleted: the record is gone and the user's erasure job is "
                                                    "queued (its status URL in the Location header)."}),
    ("PATCH", "/api/users/{user_id}/toggle-status"): Op(),
    ("GET", "/api/analytics/stats"): Op(response=(analytics.AnalyticsStats,)),
    ("GET", "/api/analytics/data"): Op(query="AnalyticsQuery", response=(analytics.AnalyticsSeries,)),
    # stored recommendations: batch generation's lists as records (a portal token)
    ("GET", "/api/recommendations"): Op(query="RecommendationsQuery", response=(stored.StoredRecommendationPage,)),
    ("GET", "/api/recommendations/my"): Op(query="MyRecommendationsQuery", errors=(404, 409),
                                           response=(stored.StoredRecommendationPage,)),
    ("GET", "/api/recommendations/{rec_id}"): Op(errors=(409,), response=(stored.StoredRecommendationView,)),  # 409: /my's
    ("DELETE", "/api/recommendations/{rec_id}"): Op(ok={204: "Deleted: the item is out of the user's stored list."},
                                                    errors=(409,)),
    ("POST", "/api/recommendations/generate"): Op(body="GenerateBody", ok={202: "Accepted: the batch job runs on."},
                                                  errors=(402, 404, 409, 429), response=(stored.GenerationAccepted,)),
    ("POST", "/v1/decisioning/rules"): Op(body="RuleIn", ok=_CREATED, errors=(409,),
        response=(decisioning.RuleView,)),
    ("GET", "/v1/decisioning/rules"): Op(response=(decisioning.RuleList,)),
    ("GET", "/v1/decisioning/rules/{rule_id}"): Op(response=(decisioning.RuleView,)),
    ("PUT", "/v1/decisioning/rules/{rule_id}"): Op(body="RuleIn", response=(decisioning.RuleView,)),
    ("DELETE", "/v1/decisioning/rules/{rule_id}"): Op(ok=_DELETED),
    ("POST", "/v1/decisioning/policies"): Op(body="PolicyIn", ok=_CREATED, errors=(409,),
        response=(decisioning.PolicyView,)),
    ("GET", "/v1/decisioning/policies"): Op(response=(decisioning.PolicyList,)),
    ("GET", "/v1/decisioning/policies/{policy_id}"): Op(response=(decisioning.PolicyView,)),
    ("PUT", "/v1/decisioning/policies/{policy_id}"): Op(body="PolicyIn", response=(decisioning.PolicyView,)),
    ("DELETE", "/v1/decisioning/policies/{policy_id}"): Op(ok=_DELETED),
    ("POST", "/v1/decisioning/flows"): Op(body="NewFlowIn", ok=_CREATED, errors=(409,),
        response=(decisioning.FlowView,)),
    ("GET", "/v1/decisioning/flows"): Op(response=(decisioning.FlowList,)),
    ("GET", "/v1/decisioning/flows/{flow_key}"): Op(response=(decisioning.FlowView,)),
    ("PUT", "/v1/decisioning/flows/{flow_key}"): Op(body="FlowIn", errors=(409,), response=(decisioning.FlowView,)),
    ("DELETE", "/v1/decisioning/flows/{flow_key}"): Op(ok=_DELETED),
    ("POST", "/v1/experiments"): Op(body="ExperimentIn", ok=_CREATED, errors=(409,),
        response=(decisioning.ExperimentView,)),
    ("GET", "/v1/experiments"): Op(response=(decisioning.ExperimentList,)),
    ("GET", "/v1/experiments/{experiment_id}"): Op(response=(decisioning.ExperimentView,)),
    ("PUT", "/v1/experiments/{experiment_id}"): Op(body="ExperimentIn", errors=(409,),
                                                    response=(decisioning.ExperimentView,)),
    ("DELETE", "/v1/experiments/{experiment_id}"): Op(ok=_DELETED),
    ("GET", "/v1/decisioning/routing"): Op(response=(decisioning.RoutingView,)),
    ("PUT", "/v1/decisioning/routing"): Op(body="RoutingIn", errors=(409,), response=(decisioning.RoutingView,)),
}

# Why each error happens; the body is always problem+json (API Gateway's own errors included).
ERRORS: dict[int, str] = {
    400: "the body is not valid JSON, or a parameter is malformed.",
    401: "no API key (`x-api-key` or `Authorization: Bearer`), or an unknown or disabled one; in the "
         "offer-decisioning dialect of /api/v1/recommend (a `customerId` request), also no `X-Tenant-Id` header, "
         "or one naming another tenant.",
    402: "the overage budget or the plan's item/user limit is spent; nothing was counted.",
    403: "the API key may not call this route, or a tenant header (X-Org-Id / X-Tenant-Id) names another tenant.",
    404: "what the path or body names (item, model, job) does not exist for this tenant.",
    408: "the request ran past its time budget (`timeout_ms`); nothing was served or billed. Retry.",
    413: "the request body is over the route's limit (POST /graphql: 64 KB).",
    409: "the model is not in a state that allows this, or (`/problems/job-in-progress`) a job of this kind is "
         "already queued or running for the tenant: `job_id`, `job_status` and `status_url` name it (with "
         "`Retry-After`), or (`/problems/conflict`, interactions) every event reuses an `event_id` already recorded "
         "for a different event (`rejected` names them), or (`/problems/no-payment-customer`, billing portal) the "
         "tenant has no payment customer yet: its first checkout creates one.",
    415: "the body is not `application/json`.",
    422: "the request does not match the schema: `errors[]` names each invalid field (for a batch with no valid "
         "entry, `rejected[]` too, by index).",
    429: "the usage plan's rate limit or monthly quota is reached; or the web ACL's: 60 requests a minute per IP on "
         "the unauthenticated routes, 200 a minute per portal token, 1,000 a minute per IP for key calls on the "
         "routes that also take a portal token (`/problems/rate-limited`); or "
         "(`/problems/job-quota-exceeded`) the plan's daily number of such jobs (`daily_limit`).",
    500: "an unexpected error; quote `request_id`.",
    501: "no payment provider is configured for this deployment.",
    502: "the payment provider (Stripe) refused or failed the call (`/problems/payment-provider-error`); the "
         "detail names the error's class, HTTP status, code and Stripe's request id, never the provider's "
         "text. With `Retry-After` when a retry may succeed (Stripe 429 or 5xx, or no answer).",
    503: "a backing service is unavailable; retry with backoff. For a batch (items, interactions), `not_stored[]` "
         "names each valid entry that was not stored (send it again) and `stored_ids` what this call did store.",
}
RETRY_AFTER = (408, 429, 503)
# The 403 of a route that needs more than `read`: a lesser key is refused there.
INSUFFICIENT_SCOPE = ("InsufficientScope", f"{TITLES[403]}: the API key's role is below the one this route needs "
                      "(`/problems/insufficient-scope`; the operation's `x-required-role` names it; read < write < "
                      "admin), or a tenant header (X-Org-Id / X-Tenant-Id) names another tenant (`/problems/forbidden`).")
ROLES_NOTE = ("Each key has a role, in its value: `rk_read_…`, `rk_write_…` or `rk_admin_…` (a key without the prefix, "
              "issued before roles, is an admin key). `read` may call recommend, similar, validate and every GET; "
              "`write` also interactions and item upserts; `admin` everything. Each operation's `x-required-role` "
              "is the least role it needs.")

# `_canonical` in schemas.py flattens these by code, not from a table, so they are described here.
RECOMMEND_SHAPES = ("`user: {user_id | userId, session_id | sessionId}` (e.g. `user.user_id`), or a bare "
                    "`user: \"u1\"`, is read as `user_id`/`session_id`. Where the list is shown is `surface`, "
                    "else `placement`, else `channel` (which is also kept as itself). Unknown fields are "
                    "ignored and reported in the `ignored_fields` warning.")


def _function_modules() -> dict[str, tuple[dict[str, Any], list[Route]]]:
    """Each API function's module namespace (from its handler) and its template routes, by logical id."""
    found: dict[str, tuple[dict[str, Any], list[Route]]] = {}
    for route in routes():
        if route.function not in found:
            handler = inspect.unwrap(load_handler(route))  # past Logger's decorator, to the module
            found[route.function] = (handler.__globals__, [])
        found[route.function][1].append(route)
    return dict(sorted(found.items()))


def _tag(function: str) -> str:
    return function.removesuffix("Function").lower()


def _doc_parts(doc: str | None) -> tuple[str | None, str | None]:
    """(summary, description) from a docstring: its first sentence, and the whole when longer."""
    if not doc:
        return None, None
    text = inspect.cleandoc(doc)
    first = " ".join(text.split("\n\n")[0].split())
    summary = first.split(". ")[0].rstrip(".") + "."
    description = "\n\n".join(" ".join(p.split()) for p in text.split("\n\n"))
    return summary, (description if description != summary else None)


def _add_model(schemas: dict[str, Any], model: type[BaseModel], mode: str) -> dict[str, str]:
    """Puts the model and its `$defs` under components/schemas; returns a $ref to it."""
    schema = model.model_json_schema(by_alias=True, mode=mode, ref_template=REF)
    # Fields excluded from dumps (e.g. RecommendRequest.ignored_fields) are internal: never sent.
    for name, info in model.model_fields.items():
        if info.exclude:
            schema.get("properties", {}).pop(info.alias or name, None)
            if name in schema.get("required", []):
                schema["required"].remove(name)
    for name, value in {**schema.pop("$defs", {}), model.__name__: schema}.items():
        if schemas.setdefault(name, value) != value:
            raise SystemExit(f"two different schemas are named {name}: rename one of the models")
    return {"$ref": REF.format(model=model.__name__)}


def _nested_alias_choices(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str]]:
    """(alias, canonical) for every AliasChoices in `model` and the models nested in it."""
    out: list[tuple[str, str]] = []
    for name, info in model.model_fields.items():
        if isinstance(info.validation_alias, AliasChoices):
            aliases = [a for a in info.validation_alias.choices[1:] if isinstance(a, str)]
            out += [(f"{prefix}{a}", f"{prefix}{name}") for a in aliases]
        stack, nested = [(info.annotation, "")], {}
        while stack:
            t, suffix = stack.pop()
            if isinstance(t, type) and issubclass(t, BaseModel):
                nested[t] = suffix
            inner = "[]" if typing.get_origin(t) is list else suffix
            stack += [(arg, inner) for arg in typing.get_args(t)]
        for sub, suffix in sorted(nested.items(), key=lambda kv: kv[0].__name__):
            out += _nested_alias_choices(sub, f"{prefix}{name}{suffix}.")
    return out


def recommend_aliases() -> str:
    """The aliases RecommendRequest accepts, from RECOMMEND_ALIASES and the nested models' AliasChoices."""
    top = "; ".join(f"{', '.join(f'`{a}`' for a in aliases)} → `{canonical}`"
                    for canonical, aliases in RECOMMEND_ALIASES.items())
    nested = "; ".join(f"`{alias}` → `{canonical}`" for alias, canonical in _nested_alias_choices(RecommendRequest))
    return (f"Other APIs' field names are accepted as aliases (the canonical name wins when both are sent): {top}; "
            f"{nested}. {RECOMMEND_SHAPES}")


def document_recommend_aliases(schemas: dict[str, Any]) -> None:
    """RecommendRequest takes unknown fields (reported as ignored), so each alias and shorthand it reads
    is a property of the schema too, with the schema of the field it stands for: a fuzzer (or a client)
    sending `k` or `user` then knows what the server holds it to."""
    model = schemas.get("RecommendRequest")
    if model is None:
        return
    properties = model["properties"]
    for canonical, names in RECOMMEND_ALIASES.items():
        for alias in names:
            properties[alias] = {**properties[canonical], "description": f"Alias of `{canonical}`."}
    user_id, session_id = properties["user_id"], properties["session_id"]
    properties["user"] = {"description": "Shorthand: the user id, or `{user_id, session_id}` (also `userId`, "
                                         "`sessionId`).",
                          "anyOf": [{"type": "null"}, {k: v for k, v in user_id.items() if k not in ("default",)},
                                    {"type": "object", "properties": {"user_id": user_id, "userId": user_id,
                                                                      "session_id": session_id,
                                                                      "sessionId": session_id}}]}
    properties["placement"] = {**properties["surface"], "description": "Alias of `surface` (when none is sent)."}


def _scalar(schema: dict) -> bool:
    options = schema.get("anyOf", [schema])
    return all("$ref" not in o and o.get("type") in ("string", "integer", "number", "boolean", "null")
               for o in options)


def _scalar_list(schema: dict) -> bool:
    options = [o for o in schema.get("anyOf", [schema]) if o.get("type") != "null"]
    return len(options) == 1 and options[0].get("type") == "array" and _scalar(options[0].get("items", {}))


def _not_null(schema: dict) -> dict:
    """A query parameter is absent, never null: drops the `null` option pydantic gives optional fields."""
    options = [o for o in schema.get("anyOf", []) if o.get("type") != "null"]
    if len(options) != 1:
        return schema
    rest = {k: v for k, v in schema.items() if k != "anyOf" and not (k == "default" and v is None)}
    return {**options[0], **rest}


def query_parameters(model: type[BaseModel], list_fields: tuple[str, ...]) -> list[dict]:
    """The model's fields a query string can carry: scalars, and comma-separated lists where the
    handler splits them; objects (rules, placements...) need the POST body."""
    schema = model.model_json_schema(by_alias=True)
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema["properties"].items():
        if model.model_fields.get(name) is not None and model.model_fields[name].exclude:
            continue
        prop = _not_null(prop)
        param: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if name in list_fields and _scalar_list(prop):
            param.update(style="form", explode=False, description="Comma-separated.")
        elif not _scalar(prop):
            continue
        params.append(param)
    return params


def _error_statuses(route: Route, op: Op) -> list[int]:
    statuses = {500, *op.errors}
    if route.api_key_required:
        statuses |= {401, 403, 429, 503}  # the gateway's key checks; the tenant lookup's table
    elif portal_route(route):
        statuses |= {401, 403, 429, 503}  # the authorizer's token checks; the role; per-token limit; tenant lookup
    else:
        statuses.add(429)  # public: the per-IP limit (template ApiWebAcl)
    if op.body:
        statuses |= {400, 415, 422}
    if op.query:
        statuses.add(422)
    if "{" in route.path:
        statuses.add(404)
    return sorted(statuses)


def _response_name(status: int) -> str:
    return "".join(TITLES[status].split())


def _components(schemas: dict[str, Any]) -> dict[str, Any]:
    problem = _add_model(schemas, shared.Problem, "serialization")
    responses = {}
    for status, why in ERRORS.items():
        response: dict[str, Any] = {"description": f"{TITLES[status]}: {why}",
                                    "content": {PROBLEM_JSON: {"schema": problem}}}
        if status in RETRY_AFTER:
            response["headers"] = {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}}
        responses[_response_name(status)] = response
    name, why = INSUFFICIENT_SCOPE
    responses[name] = {"description": why, "content": {PROBLEM_JSON: {"schema": problem}}}
    return {
        "schemas": schemas,
        "responses": responses,
        "headers": {
            "RetryAfter": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}},
            "RequestId": {"description": "The request id (the caller's X-Request-Id when well formed); quote it "
                                         "in support requests.", "schema": {"type": "string"}},
            "Location": {"description": "Where to poll the job.", "schema": {"type": "string"}},
        },
        "securitySchemes": {
            name: scheme.model_dump(by_alias=True, exclude_none=True, mode="json") for name, scheme in (
                ("ApiKey", APIKey(**{"in": APIKeyIn.header}, name="x-api-key",
                                  description=f"One of the tenant's API keys. {ROLES_NOTE}")),
                ("BearerKey", HTTPBearer(description="The same API key as `Authorization: Bearer <key>`.")),
                ("PortalToken", HTTPBearer(bearerFormat="JWT", description=(
                    "A portal account's token (`POST /api/auth/login` or `/auth/v1/token`): a Cognito ID token, "
                    "its tenant and group (admin: the admin role; user: read) in its claims."))))
        },
    }


def _success(op: Op, schemas: dict[str, Any]) -> dict[str, Any]:
    refs = [_add_model(schemas, m, "serialization") for m in op.response]
    schema: dict[str, Any] = refs[0] if len(refs) == 1 else {"oneOf": refs} if refs else {"type": "object"}
    out = {}
    for status, why in sorted(op.ok.items()):
        response: dict[str, Any] = {"description": why,
                                    "headers": {"X-Request-Id": {"$ref": "#/components/headers/RequestId"}}}
        if status != 204:
            response["content"] = {"application/json": {"schema": schema}}
        if status == 202:
            response["headers"]["Location"] = {"$ref": "#/components/headers/Location"}
        out[str(status)] = response
    return out


def _enrich(operation: dict, route: Route, op: Op, namespace: dict, func: Any, schemas: dict[str, Any]) -> None:
    """Adds to Powertools' operation what it cannot know: bodies, responses, errors, security."""
    summary, description = _doc_parts(func.__doc__)
    if summary:
        operation["summary"] = summary
    if description:
        operation["description"] = description
    operation["tags"] = [_tag(route.function)]
    takes_keys = getattr(namespace.get("app"), "_resolve_key_value", None) is not None  # runtime.key_or_token_api
    operation["security"] = (SECURITY if route.api_key_required else
                             PORTAL_SECURITY + (SECURITY if takes_keys else []) if portal_route(route) else [])
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "path" and parameter["name"] in VALIDATED_PATH_PARAMETERS:
            parameter["schema"] = {**parameter["schema"], **VALIDATED_PATH_PARAMETERS[parameter["name"]]}
    if op.body:
        model = namespace[op.body]
        body: dict[str, Any] = {"required": True, "content": {"application/json": {"schema": _add_model(
            schemas, model, "validation")}}}
        if model is RecommendRequest:
            body["description"] = recommend_aliases()
        operation["requestBody"] = body
    if op.query:
        model = namespace[op.query]
        operation["parameters"] = operation.get("parameters", []) + query_parameters(
            model, tuple(namespace.get("LIST_QUERY_FIELDS", ())))
        if model is RecommendRequest:
            operation["description"] = "\n\n".join(filter(None, [operation.get("description"), recommend_aliases()]))
    operation["responses"] = {**_success(op, schemas), **{
        str(s): {"$ref": f"#/components/responses/{_response_name(s)}"} for s in _error_statuses(route, op)}}
    if route.api_key_required or portal_route(route):
        _required_role(operation, route)


def _required_role(operation: dict, route: Route) -> None:
    """The least role the route needs, from the one table the functions enforce; above `read`, the
    description says so and the 403 names insufficient-scope."""
    if ROUTE_ROLES.get((route.method, route.path)) is None:
        raise SystemExit(f"{route.method} {route.path} needs a key but has no role in recengine/tenancy/roles.py")
    needed = ROUTE_ROLES[(route.method, route.path)]
    operation["x-required-role"] = needed.value
    if needed is not Role.READ:
        allowed = " or ".join(f"`{role.value}`" for role in Role if role.allows(needed))
        note = f"Needs an API key with the {allowed} role; a lesser key gets 403 `/problems/insufficient-scope`."
        if portal_route(route):
            token = (f"a portal token with the {allowed} role (an account of the `admin` group); a `user`-group "
                     "token gets 403 `/problems/insufficient-scope`.")
            note = f"Needs {token}" if {"ApiKey": []} not in operation["security"] else (
                f"Needs an API key with the {allowed} role (a lesser key gets 403 `/problems/insufficient-scope`) or "
                f"{token}")
        operation["description"] = "\n\n".join(filter(None, [operation.get("description"), note]))
        operation["responses"]["403"] = {"$ref": f"#/components/responses/{INSUFFICIENT_SCOPE[0]}"}


def _referenced(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            _referenced(value, found)
    elif isinstance(node, list):
        for value in node:
            _referenced(value, found)


def _prune(document: dict) -> None:
    """Drops schemas nothing refers to (Powertools adds its own validation-error models)."""
    schemas = document["components"]["schemas"]
    keep: set[str] = set()
    _referenced({k: v for k, v in document.items() if k != "components"}, keep)
    _referenced(document["components"]["responses"], keep)
    frontier = set(keep)
    while frontier:
        found: set[str] = set()
        _referenced([schemas[name] for name in frontier], found)
        frontier = found - keep
        keep |= found
    document["components"]["schemas"] = {k: v for k, v in schemas.items() if k in keep}


def _servers() -> list[dict]:
    deployed = Server(url=f"https://{{api_id}}.execute-api.{{region}}.amazonaws.com/{stage_name()}",
                      description="The deployed API (the stack's ApiUrl output).",
                      variables={"api_id": ServerVariable(default="api_id", description="The ApiId output."),
                                 "region": ServerVariable(default="us-east-1")})
    local = Server(url="http://127.0.0.1:3000", description="The local stack (`make local`).")
    return [s.model_dump(by_alias=True, exclude_none=True, mode="json") for s in (deployed, local)]


def generate() -> dict:
    """The merged OpenAPI document of every API function, as a plain dict."""
    version = getattr(recengine, "__version__", "1.0.0")
    schemas: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    tags = []
    template_routes: dict[tuple[str, str], Route] = {}
    for function, (namespace, function_routes) in _function_modules().items():
        app = namespace.get("app")
        if not isinstance(app, APIGatewayRestResolver):
            raise SystemExit(f"{function}: its module has no APIGatewayRestResolver named `app`")
        template_routes.update({(rt.method, rt.path): rt for rt in function_routes})
        summary, description = _doc_parts(namespace.get("__doc__"))
        tags.append({"name": _tag(function), "description": description or summary or function})
        doc = app.get_openapi_schema(title=TITLE, version=version).model_dump(by_alias=True, exclude_none=True,
                                                                              mode="json")
        schemas.update(doc.get("components", {}).get("schemas", {}))
        funcs = {(rt.method, rt.openapi_path): rt.func for rt in app._static_routes + app._dynamic_routes}
        for path, item in doc["paths"].items():
            for method, operation in item.items():
                key = (method.upper(), path)
                route = template_routes.get(key)
                if route is None:
                    raise SystemExit(f"{function} serves {method.upper()} {path}, which template.yaml lacks")
                if key not in OPERATIONS:
                    raise SystemExit(f"{method.upper()} {path} is not in OPERATIONS in scripts/openapi.py: add it")
                _enrich(operation, route, OPERATIONS[key], namespace, funcs[key], schemas)
                if method in paths.setdefault(path, {}):
                    raise SystemExit(f"{method.upper()} {path} is served by two functions")
                paths[path][method] = operation
    operation_ids = [op["operationId"] for item in paths.values() for op in item.values()]
    if len(set(operation_ids)) != len(operation_ids):
        raise SystemExit("duplicate operation ids: two route functions share a name and path")
    document = {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": version,
                 "description": "Recommendations as a service: API keys per tenant, each with a role (read, "
                                "write, admin), problem+json errors (RFC 9457). Generated from the code by "
                                "scripts/openapi.py; do not edit."},
        "servers": _servers(),
        "security": SECURITY,
        "tags": sorted(tags, key=lambda t: t["name"]),
        "paths": paths,
        "components": _components(schemas),
    }
    document_recommend_aliases(document["components"]["schemas"])
    bound_requests(document)
    _prune(document)
    OpenAPI.model_validate(document)  # Powertools' own models: the merged document is still OpenAPI
    return document


def render(document: dict) -> str:
    """Pretty, key-sorted and newline-terminated, so the committed file diffs cleanly."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/openapi.json is stale")
    args = parser.parse_args(argv)
    fresh = render(generate())
    if args.check:
        current = OUTPUT.read_text() if OUTPUT.exists() else ""
        if current == fresh:
            print(f"{OUTPUT.relative_to(ROOT)} is up to date")
            return 0
        diff = list(difflib.unified_diff(current.splitlines(), fresh.splitlines(), "committed", "generated",
                                         lineterm="", n=1))
        changed = sum(1 for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---"))
        print(f"{OUTPUT.relative_to(ROOT)} is stale ({changed} lines differ); run `python scripts/openapi.py`")
        print("\n".join(diff[:60]) + ("\n..." if len(diff) > 60 else ""))
        return 1
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(fresh)
    print(f"wrote {OUTPUT.relative_to(ROOT)} ({len(fresh)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
