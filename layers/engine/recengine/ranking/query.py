"""One recommend request in canonical form (`RecommendCall`, plain values whatever wire format it
came in), and its resolution into the `Query` the ranking runs: identity, limits, rules, the time
budget, and the warnings the request itself earns."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from ..attribution.service import ANONYMOUS, Pseudonyms
from ..errors import DeadlineExceededError
from .policy import Eligibility, ListPolicy
from .rules import CompiledRule, Rule, compile_rules

MAX_LIMIT = 100  # the longest list one request returns; larger limits are clipped with a warning


def warn(code: str, message: str) -> dict:
    return {"code": code, "message": message}



SUBSTITUTES = {"deep-learning": "hybrid"}  # a name other APIs use -> the model that serves it, until one exists


def served_algorithm(requested: str) -> str:
    """The algorithm that ranks for `requested` (RecommendAI's "deep-learning" is the strongest we have)."""
    return SUBSTITUTES.get(requested, requested)

@dataclass(frozen=True)
class RecommendCall:
    """What the caller asked for, aliases resolved (see ranking.schemas.RecommendRequest)."""

    user_id: str | None = None
    session_id: str | None = None
    limit: int = 10
    item_ids: Sequence[str] | None = None
    algorithm: str = "hybrid"
    model_id: str | None = None
    surface: str | None = None
    channel: str | None = None
    context: Mapping[str, Any] | None = None
    locale: str | None = None
    currency: str | None = None
    rules: Sequence[Rule] = ()
    exclude_items: Sequence[str] = ()
    segments: Sequence[str] | None = None
    attributes: Mapping[str, Any] | None = None
    placements: Sequence[tuple[str, int | None]] | None = None  # (placement id, its own limit)
    deduplicate: bool = False
    debug: bool = False
    frequency_cap: tuple[int, float] | None = None  # (max impressions, window in hours)
    timeout_ms: int | None = None
    source: str = "model"
    ignored_fields: Sequence[str] = ()
    placement: str | None = None  # the slot type asked for (decision flows route and filter on it)
    decision_flow_key: str | None = None
    policy: ListPolicy | None = None  # set by a decision flow (recengine.decisioning.orchestrate)
    channel_id: str | None = None  # a specific channel: decisioning.offers matches offers and creatives on it
    exclude_creatives: Sequence[str] = ()  # creatives never shown (an offer left with none is not eligible)
    eligibility: Eligibility | None = None  # set by decisioning.serving: offers' channels, windows, creatives


@dataclass(frozen=True)
class Client:
    """Who is calling, as far as the transport tells: the request id lists are logged under, the
    address and user agent an anonymous caller's key is derived from, and API Gateway's own request
    id, which the meter counts once (the caller may choose `request_id`, so it cannot be that key)."""

    request_id: str
    source_ip: str | None = None
    user_agent: str | None = None
    gateway_request_id: str | None = None


def _monotonic() -> float:
    return time.monotonic()


@dataclass
class Deadline:
    """The request's time budget: checked between stages, so a slow dependency turns into a 408
    (nothing served, nothing billed) instead of an answer the caller has already given up on."""

    budget_ms: int
    clock: Callable[[], float] | None = None  # default: the module's monotonic clock (tests move it)
    started: float | None = None

    def __post_init__(self) -> None:
        if self.started is None:
            self.started = self.now()

    def now(self) -> float:
        return (self.clock or _monotonic)()

    def check(self, stage: str) -> None:
        elapsed_ms = (self.now() - self.started) * 1000
        if elapsed_ms > self.budget_ms:
            raise DeadlineExceededError(f"the request exceeded its {self.budget_ms} ms budget ({stage})")


@dataclass
class Query:
    """One recommend request as the ranking runs it."""

    tenant_id: str
    user_id: str | None = None
    session_id: str | None = None
    user_key: str | None = None  # pseudonymous; what logs and exposure rows carry
    limit: int = 10
    candidates: Sequence[str] | None = None
    algorithm: str = "hybrid"
    model_id: str | None = None
    surface: str | None = None
    context: Mapping[str, Any] = field(default_factory=dict)
    rules: Sequence[CompiledRule] = ()
    exclude: Sequence[str] = ()
    placements: Sequence[tuple[str, int]] | None = None
    deduplicate: bool = False
    debug: bool = False
    frequency_cap: tuple[int, float] | None = None  # (max impressions, window in seconds)
    source: str = "model"
    deadline: Deadline | None = None
    channel: str | None = None
    placement: str | None = None
    policy: ListPolicy | None = None
    eligibility: Eligibility | None = None

    def check(self, stage: str) -> None:
        if self.deadline is not None:
            self.deadline.check(stage)


def identity(pseudonyms: Pseudonyms, tenant_id: str, user_id: str | None, session_id: str | None,
             client: Client | None) -> tuple[str | None, str, dict | None]:
    """(user id for history, pseudonymous user key, warning). Without a user id (or with the
    literal "anonymous"), a stable anonymous id is derived from the session, else from the
    client address and user agent, so caps and attribution still see one visitor."""
    key = pseudonyms.user_key(tenant_id, user_id, session_id)  # the key outcomes of this caller will carry
    if user_id and user_id.lower() != ANONYMOUS:
        return user_id, key, None
    if key is not None:
        return None, key, warn("anonymous_user", "no user_id: an anonymous id was derived from the session id")
    key = pseudonyms.client_key(tenant_id, client.source_ip if client else None, client.user_agent if client else None)
    return None, key, warn("anonymous_user", "no user_id or session_id: an anonymous id was derived from the "
                           "client address and user agent; send a user_id or session_id for personal results")


def ranking_context(call: RecommendCall) -> dict[str, Any]:
    """The request's context plus the named fields that describe it (surface, channel, locale...)."""
    context = {k: v for k, v in (call.context or {}).items() if v is not None}
    for name in ("surface", "channel", "locale", "currency"):
        value = getattr(call, name)
        if value is not None:
            context.setdefault(name, value)
    return context


def build_query(pseudonyms: Pseudonyms, tenant_id: str, call: RecommendCall, client: Client | None = None,
                deadline: Deadline | None = None) -> tuple[Query, list[dict], str | None]:
    """The query, the warnings the request itself earns, and the anonymous key if one was derived."""
    warnings: list[dict] = []
    user_id, user_key, anonymous = identity(pseudonyms, tenant_id, call.user_id, call.session_id, client)
    if anonymous:
        warnings.append(anonymous)
    if call.ignored_fields:
        warnings.append(warn("ignored_fields", f"fields not used by this API were ignored: "
                             f"{', '.join(list(call.ignored_fields)[:20])}"))
    limit = call.limit
    if limit > MAX_LIMIT:
        warnings.append(warn("limit_clipped", f"limit {limit} is above the maximum: {MAX_LIMIT} returned at most"))
        limit = MAX_LIMIT
    placements = None
    if call.placements:
        placements = []
        for placement_id, own_limit in call.placements:
            wanted = own_limit or limit
            if wanted > MAX_LIMIT:
                warnings.append(warn("limit_clipped",
                                     f"placement {placement_id}: limit {wanted} clipped to {MAX_LIMIT}"))
                wanted = MAX_LIMIT
            placements.append((placement_id, wanted))
    elif call.deduplicate:
        warnings.append(warn("deduplicate_without_placements",
                             "deduplicate applies across placements; none were given"))
    algorithm = served_algorithm(call.algorithm)
    if algorithm != call.algorithm:
        warnings.append(warn("algorithm_substituted", f"no {call.algorithm} model exists yet: the strongest "
                             f"available ({algorithm}) answered"))
    rules, notes = compile_rules(call.rules, call.segments, call.attributes)
    for note in notes:
        warnings.append(warn("rule_skipped", f"a rule was not applied: {note}"))
    cap = (call.frequency_cap[0], call.frequency_cap[1] * 3600) if call.frequency_cap else None
    query = Query(tenant_id, user_id, call.session_id, user_key, limit, call.item_ids, algorithm, call.model_id,
                  call.surface, ranking_context(call), rules, call.exclude_items, placements, call.deduplicate,
                  call.debug, cap, call.source, deadline, call.channel, call.placement, call.policy,
                  call.eligibility)
    return query, warnings, user_key if anonymous else None
