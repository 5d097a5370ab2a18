"""The recommend route's one service call: resolve the request, meter it, rank, log the exposures,
and say what happened (warnings, metrics). Wire formats are the presenters' business."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ..attribution.service import Pseudonyms
from ..billing.metering import metered_beside
from ..billing.store import UsageStore
from ..models.registry import ModelRegistry
from ..observability import count, logger
from ..tenancy.model import Tenant
from .exposures import log_exposures
from .query import Client, Deadline, Query, RecommendCall, build_query, warn
from .serve import Deps, Result, serve

LAMBDA_MARGIN_MS = 1000  # keep this much of the Lambda's own timeout to answer the 408 itself


@dataclass
class RecommendDeps:
    """Ranking's reads, plus the meter, the pseudonym key and the registry (validation)."""

    ranking: Deps
    usage: UsageStore
    pseudonyms: Pseudonyms
    registry: ModelRegistry
    default_budget_ms: int = 5000


@dataclass
class Recommendation:
    """A served request: the query as run, what was ranked, and everything the caller is told."""

    request_id: str
    query: Query
    result: Result
    warnings: list[dict]
    anonymous_id: str | None
    requested_algorithm: str
    experiment: dict | None = None  # {id, variant} when an experiment chose what served the request
    flow_key: str | None = None  # the decision flow that served it
    grouped: bool = False  # the flow answers grouped by placement


@dataclass
class Resolved:
    """A request resolved but not ranked (`/v1/recommend/validate`)."""

    query: Query
    warnings: list[dict]
    anonymous_id: str | None


def budget_ms(requested: int | None, default: int, remaining_ms: int | None) -> int:
    """The request's time budget: what it asked for (else the default), within what the Lambda has left."""
    budget = requested or default
    if remaining_ms is not None:
        budget = max(10, min(budget, remaining_ms - LAMBDA_MARGIN_MS))
    return budget


def resolve(deps: RecommendDeps, tenant: Tenant, call: RecommendCall, client: Client,
            remaining_ms: int | None = None) -> Resolved:
    deadline = Deadline(budget_ms(call.timeout_ms, deps.default_budget_ms, remaining_ms))
    query, warnings, anonymous_id = build_query(deps.pseudonyms, tenant.tenant_id, call, client, deadline)
    return Resolved(query, warnings, anonymous_id)


def recommend(deps: RecommendDeps, tenant: Tenant, call: RecommendCall, client: Client,
              remaining_ms: int | None = None, beside: Sequence[Callable[[], Any]] = ()) -> Recommendation:
    """Ranks one request (metered: a refused or failed call is not billed) and logs its exposures:
    two round trips, the reads with the meter (and `beside`, writes that never fail the request),
    then the exposure writes."""
    resolved = resolve(deps, tenant, call, client, remaining_ms)
    query, warnings = resolved.query, resolved.warnings
    with metered_beside(deps.usage, tenant, client.gateway_request_id) as meter:  # a 402 is raised before ranking
        result = serve(deps.ranking, query, alongside=meter, beside=beside)
    warnings += result.warnings
    not_stored = log_exposures(deps.ranking.exposures, deps.pseudonyms, query, result, client.request_id)
    if not_stored:
        warnings.append(not_stored)
    for served in result.lists:
        count("ListsServed", source=served.source)
    for warning in warnings:
        count("Warnings", code=warning["code"])
    logger.info("recommended", extra={"tenant_id": tenant.tenant_id, "model_id": result.model_id,
                                      "source": result.source, "returned": sum(len(s.items) for s in result.lists),
                                      "surface": query.surface})
    return Recommendation(client.request_id, query, result, warnings, resolved.anonymous_id, call.algorithm)


def validate(deps: RecommendDeps, tenant: Tenant, call: RecommendCall, client: Client,
             remaining_ms: int | None = None) -> Resolved:
    """What recommend would make of the request, without ranking or metering it."""
    resolved = resolve(deps, tenant, call, client, remaining_ms)
    if call.model_id and deps.registry.get_version(tenant.tenant_id, call.model_id) is None:
        resolved.warnings.append(warn("unknown_model", f"model {call.model_id} does not exist for this tenant: "
                                      "recommend would answer 404"))
    return resolved
