"""The resolvers bound to schema.graphql: each validates its arguments with the REST edge's own models,
calls the same service as the REST route, and answers through the RecommendAI presenters."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from graphql import GraphQLResolveInfo
from pydantic import BaseModel, Field

from .. import __version__
from ..billing.periods import iso
from ..errors import InsufficientScopeError
from ..events.presenters import recommendai_answer
from ..events.schemas import InteractionIn
from ..events.service import IngestDeps, ingest
from ..http.batches import Batch
from ..ranking import service as ranking
from ..ranking.presenters import recommendai_items, recommendai_similar
from ..ranking.query import Client
from ..ranking.schemas import RecommendRequest, SimilarRequest
from ..ranking.service import RecommendDeps
from ..ranking.similar import SimilarDeps, similar_items
from ..tenancy.model import Tenant
from ..tenancy.roles import Role
from .limits import MAX_COUNT, MIN_COUNT


@dataclass(frozen=True)
class GraphqlDeps:
    """The services the resolvers call: the very ones the REST functions are given."""

    recommending: RecommendDeps
    similar: SimilarDeps
    ingesting: IngestDeps


@dataclass
class Context:
    """One request: who calls (tenant, the key's role), how the transport names the call, and the
    warnings the services gave, by response key (the RecommendAI shapes have no room for them)."""

    deps: GraphqlDeps
    tenant: Tenant
    role: Role | None
    client: Client
    remaining_ms: Callable[[], int | None] = lambda: None
    warnings: dict[str, list[str]] = field(default_factory=dict)

    def client_for(self, info: GraphQLResolveInfo) -> Client:
        """The client with a gateway request id per root field: the meter counts a call once per id, and
        each alias is a call of its own (two aliases must not share one count)."""
        gateway = self.client.gateway_request_id
        key = info.path.key
        return replace(self.client, gateway_request_id=f"{gateway}#{key}" if gateway else None)

    def warn(self, info: GraphQLResolveInfo, header: dict[str, str]) -> None:
        codes = header.get("X-Recommendation-Warnings")
        if codes:
            self.warnings[str(info.path.key)] = codes.split(",")


class CountArg(BaseModel):
    """`count` as the GraphQL operations take it: 1..MAX_COUNT (REST clips larger lists instead)."""

    count: int = Field(ge=MIN_COUNT, le=MAX_COUNT)


def get_recommendations(_root: Any, info: GraphQLResolveInfo, userId: str, count: int,
                        algorithm: str | None = None) -> list[dict]:
    ctx: Context = info.context
    CountArg.model_validate({"count": count})
    fields: dict[str, Any] = {"user_id": userId, "limit": count}
    if algorithm is not None:
        fields["algorithm"] = algorithm
    call = RecommendRequest.model_validate(fields).to_call()
    rec = ranking.recommend(ctx.deps.recommending, ctx.tenant, call, ctx.client_for(info), ctx.remaining_ms())
    items, header = recommendai_items(rec)
    ctx.warn(info, header)
    return items


def get_similar_items(_root: Any, info: GraphQLResolveInfo, itemId: str, count: int) -> list[dict]:
    ctx: Context = info.context
    CountArg.model_validate({"count": count})
    body = SimilarRequest.model_validate({"item_id": itemId, "limit": count})
    result = similar_items(ctx.deps.similar, ctx.tenant, body.item_id, body.limit, body.model_id,
                           ctx.client_for(info).gateway_request_id)
    items, header = recommendai_similar(result)
    ctx.warn(info, header)
    return items


def get_api_version(_root: Any, _info: GraphQLResolveInfo) -> str:
    return __version__


def get_health(_root: Any, _info: GraphQLResolveInfo) -> dict:
    """Liveness, as GET /health: the function answers; no backing service is touched."""
    return {"status": "ok", "timestamp": iso(time.time())}


def record_interaction(_root: Any, info: GraphQLResolveInfo, userId: str, itemId: str, interactionType: str,
                       value: float | None = None) -> dict:
    """One event, validated as the REST route validates it; needs a key with the write role."""
    ctx: Context = info.context
    if ctx.role is None or not ctx.role.allows(Role.WRITE):
        has = f"its role is {ctx.role.value}" if ctx.role else "it carries no role"
        raise InsufficientScopeError(f"recordInteraction needs an API key with the write role or above; {has}")
    fields: dict[str, Any] = {"user_id": userId, "item_id": itemId, "type": interactionType}
    if value is not None:
        fields["value"] = value
    event = InteractionIn.model_validate(fields)
    result = ingest(ctx.deps.ingesting, ctx.tenant, [event.to_event()], ctx.client_for(info).gateway_request_id)
    status, body = recommendai_answer(result, Batch(entries=[(0, event)], rejected=[]))
    message = "interaction recorded" if status == 201 else "interaction already recorded"
    return {"success": body["success"], "message": f"{message} ({body['interactionId']})",
            "timestamp": body["timestamp"]}


QUERY_RESOLVERS: dict[str, Callable[..., Any]] = {
    "getRecommendations": get_recommendations,
    "getSimilarItems": get_similar_items,
    "getApiVersion": get_api_version,
    "getHealth": get_health,
}
MUTATION_RESOLVERS: dict[str, Callable[..., Any]] = {"recordInteraction": record_interaction}
