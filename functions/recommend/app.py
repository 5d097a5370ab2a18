"""/v1/recommend (POST and GET, also under /api/v1) and /v1/recommend/validate: personalised,
session-aware, context-aware lists from the tenant's live model, with rules, placements,
frequency caps, debug traces and an exposure log entry per served list."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths

from recengine.api.http import create_app, current_tenant, json_response, parse_body, request_id, validate
from recengine.api.metering import metered
from recengine.api.schemas import RecommendRequest
from recengine.services import recommend as service
from recengine.services.container import container
from recengine.services.recommend_request import build_query, log_exposures

logger = Logger()
app = create_app(logger)
LIST_QUERY_FIELDS = ("item_ids", "itemIds", "exclude_items", "excludeOffers", "segments")
LAMBDA_MARGIN_MS = 1000  # keep this much of the Lambda's own timeout to answer the 408 itself


def _query(body: RecommendRequest):
    event = app.current_event
    tenant = current_tenant(app)
    c = container()
    budget = body.timeout_ms or c.settings.request_budget_ms
    if app.lambda_context is not None:
        budget = max(10, min(budget, app.lambda_context.get_remaining_time_in_millis() - LAMBDA_MARGIN_MS))
    identity = event.request_context.identity
    query, warnings, anonymous_id = build_query(tenant.tenant_id, body, source_ip=identity.source_ip,
                                                user_agent=identity.user_agent,
                                                deadline=service.Deadline(budget))
    return tenant, query, warnings, anonymous_id


def _answer(body: RecommendRequest):
    tenant, query, warnings, anonymous_id = _query(body)
    c = container()
    deps = service.Deps(c.models, c.interactions, c.items, c.popularity, c.exposures)
    with metered(tenant):
        result = service.serve(deps, query)
    rid = request_id(app)
    warnings += result.warnings
    not_stored = log_exposures(c.exposures, query, result, rid)
    if not_stored:
        warnings.append(not_stored)
    batch = result.source == "batch"
    meta = {"request_id": rid, "model_id": result.model_id, "algorithm": body.algorithm if batch else result.source,
            "surface": query.surface, "source": "batch" if batch else "model"}
    if anonymous_id:
        meta["anonymous_id"] = anonymous_id
    payload: dict = {"rec_id": rid}
    if query.placements:
        payload["placements"] = [{"placement_id": s.placement, "items": s.items} for s in result.lists]
    else:
        payload["items"] = result.items
    payload.update({"meta": meta, "warnings": warnings})
    if query.debug:
        payload["debug"] = _debug(query, result)
    logger.info("recommended", extra={"tenant_id": tenant.tenant_id, "model_id": result.model_id,
                                      "source": result.source, "returned": sum(len(s.items) for s in result.lists),
                                      "surface": query.surface})
    return json_response(app, 200, payload)


def _debug(query: service.Query, result: service.Result) -> dict:
    def one(served: service.ServedList) -> dict:
        return {"contributions": served.contributions or [],
                "filtered": [{"id": i, "reason": r} for i, r in served.filtered.items()]}

    trace = {"rules": [r.label for r in query.rules], "context": dict(query.context),
             "frequency_cap": list(query.frequency_cap) if query.frequency_cap else None}
    if query.placements:
        trace["placements"] = {s.placement: one(s) for s in result.lists}
    elif result.lists:
        trace.update(one(result.lists[0]))
    return trace


@app.post("/v1/recommend")
@app.post("/api/v1/recommend")
def recommend_post():
    """A ranked list (or one per placement) for a user or session; see the request schema for aliases."""
    return _answer(parse_body(app, RecommendRequest))


@app.get("/v1/recommend")
@app.get("/api/v1/recommend")
def recommend_get():
    """The query-string variant: list fields are comma-separated (`item_ids=a,b`)."""
    params = dict(app.current_event.query_string_parameters or {})
    for name in LIST_QUERY_FIELDS:
        if name in params:
            params[name] = [v for v in params[name].split(",") if v]
    return _answer(validate(RecommendRequest, params))


@app.post("/v1/recommend/validate")
def validate_request():
    """Full validation and the warnings a request would get, without ranking or metering."""
    body = parse_body(app, RecommendRequest)
    _tenant, query, warnings, anonymous_id = _query(body)
    if query.model_id:
        c = container()
        if c.registry.get_version(query.tenant_id, query.model_id) is None:
            warnings.append(service._warn("unknown_model", f"model {query.model_id} does not exist for this tenant: "
                                          "recommend would answer 404"))
    canonical = body.model_dump(exclude_none=True, exclude={"ignored_fields"})
    canonical["limit"] = query.limit
    return json_response(app, 200, {"valid": True, "request": canonical, "warnings": warnings,
                                    "meta": {"request_id": request_id(app), "anonymous_id": anonymous_id}})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event, context):
    return app.resolve(event, context)
