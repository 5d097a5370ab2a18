"""Recommend under a tenant's decisioning objects: the request's experiment variant, its flow (named
by `decisionFlowKey`, else the variant's, else routing by channel and placement), and the flow applied
to every list ranking serves. No extra round trip: the objects come from the per-container cache
(decisioning.config), the customer's exposures and events are read with ranking's own reads, and the
assignment record is written beside them. A request nothing routes is ranked exactly as before."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ..catalogue.model import decision_document
from ..ranking import service as ranking
from ..ranking.policy import Chosen
from ..errors import StoreError
from ..observability import logger
from ..ranking.query import Client, RecommendCall, identity, warn
from ..tenancy.model import Tenant
from .config import ConfigCache, TenantConfig
from .contact_policy import lookback_s
from .experiments import assign
from .model import ContactPolicy, Experiment, Flow, QualificationRule
from .offers import OfferEligibility
from .pipeline import decide
from .service import assign_and_log
from .store import AssignmentStore

POOL_FACTOR, MIN_POOL, MAX_POOL = 4, 50, 500  # a model-sourced flow chooses among this many active candidates


@dataclass
class DecisioningDeps:
    recommending: ranking.RecommendDeps
    config: ConfigCache
    assignments: AssignmentStore | None = None


@dataclass
class FlowPolicy:
    """One flow for one request (ranking.policy.ListPolicy): rules, contact policies, ranker, guardrails."""

    flow: Flow
    rules: Sequence[QualificationRule]
    policies: Sequence[ContactPolicy]
    segments: Sequence[str] | None
    attributes: Mapping[str, Any] | None
    channel: str | None
    placement: str | None
    now: float
    lookback_s: float = 0.0
    exclude_seen: bool = True

    def __post_init__(self) -> None:
        self.lookback_s = lookback_s(self.policies, self.now) if self.policies else 0.0
        # an explicit offer set is offered again after a click: its contact policies decide how often
        self.exclude_seen = self.flow.source.kind != "offers"

    def pool(self, limit: int) -> int:
        if self.flow.source.kind == "offers":
            return max(len(self.flow.source.offer_ids), 1)
        return min(max(limit * POOL_FACTOR, MIN_POOL), MAX_POOL)

    def choose(self, scored: Sequence[tuple[str, float]], rows: Mapping[str, dict | None],
               exposures: Sequence[Mapping[str, Any]], events: Sequence[Mapping[str, Any]],
               placement: str | None, limit: int) -> Chosen:
        offers = {item: _offer_fields(rows.get(item)) for item, _ in scored}
        decision = decide(self.flow, self.rules, self.policies, dict(scored), offers, segments=self.segments,
                          attributes=self.attributes, exposures=exposures, outcomes=events, now=self.now,
                          channel=self.channel, placement=placement or self.placement)
        items = [(r.offer_id, r.score) for r in decision.ranked][:limit]
        filtered = {**{o: f"qualification: {why}" for o, why in decision.qualification.items()},
                    **{o: f"contact policy: {why}" for o, why in decision.contact_policy.items()},
                    **{o: f"guardrail: {why}" for o, why in decision.guardrails.items()}}
        trace = {"flow": self.flow.key, "ranker": self.flow.ranker, "qualification": decision.qualification,
                 "contact_policy": decision.contact_policy, "guardrails": decision.guardrails,
                 "notes": decision.notes,
                 "scores": [{"id": r.offer_id, "score": r.score, "model_score": r.model_score,
                             "propensity": r.propensity, "value": r.value, "priority": r.priority}
                            for r in decision.ranked[:limit]]}
        return Chosen(items, filtered, trace)


def _offer_fields(row: dict | None) -> dict[str, Any]:
    """What rules and rankers read of an offer: its metadata, its decisioning fields (the catalogue's
    `offer`: priority, value, channels...) laid over it."""
    return decision_document(row or {})


@dataclass(frozen=True)
class Plan:
    """What the tenant's objects make of one request."""

    call: RecommendCall
    flow: Flow | None = None
    experiment: Experiment | None = None
    variant: str | None = None


def plan(config: TenantConfig, call: RecommendCall, user_key: str | None, now: float) -> Plan:
    """The experiment variant (unless the request names its flow or pins a model), then the flow, and
    the call as the flow runs it: its candidates, model and algorithm, at most its limit."""
    channel, placement = call.channel, call.placement
    experiment = config.experiment(channel, placement) \
        if user_key and not call.decision_flow_key and not call.model_id else None
    variant = assign(experiment, user_key) if experiment is not None else None
    if call.decision_flow_key:
        flow = config.flow(call.decision_flow_key)
    elif variant is not None and variant.flow_key:
        flow = config.flows.get(variant.flow_key) or config.routed(channel, placement)
    else:
        flow = config.routed(channel, placement)
    changes: dict[str, Any] = {}
    if variant is not None and variant.model_id:
        changes["model_id"] = variant.model_id
    if flow is not None:
        source = flow.source
        if source.model_id and "model_id" not in changes and not call.model_id:
            changes["model_id"] = source.model_id
        if source.algorithm:
            changes["algorithm"] = source.algorithm
        if source.kind == "offers":
            allowed = set(call.item_ids) if call.item_ids else None
            changes["item_ids"] = [o for o in source.offer_ids if allowed is None or o in allowed]
        changes["limit"] = min(call.limit, flow.limit)
        changes["policy"] = FlowPolicy(flow, config.rules_of(flow), config.policies_of(flow), call.segments,
                                       call.attributes, channel, placement, now)
    return Plan(dataclasses.replace(call, **changes), flow, experiment, variant.name if variant else None)


def recommend(deps: DecisioningDeps, tenant: Tenant, call: RecommendCall, client: Client,
              remaining_ms: int | None = None) -> ranking.Recommendation:
    """ranking.service.recommend with the tenant's flows and experiments applied (see the module), and
    every list held to the offers eligible for the request's channel, placement and time, each with
    its creative (decisioning.offers)."""
    now = time.time()
    call = dataclasses.replace(call, eligibility=OfferEligibility.for_call(call, now))
    try:
        config = deps.config.get(tenant.tenant_id)
    except StoreError:
        if call.decision_flow_key:  # the caller asked for a flow: a 503 it can retry, not a different list
            raise
        logger.warning("decisioning objects not read; ranked without flows", extra={"tenant_id": tenant.tenant_id})
        rec = ranking.recommend(deps.recommending, tenant, call, client, remaining_ms)
        rec.warnings.append(warn("decisioning_unavailable", "the tenant's decision flows and experiments could not "
                                 "be read just now: the list was ranked without them"))
        return rec
    if config.empty and not call.decision_flow_key:
        return ranking.recommend(deps.recommending, tenant, call, client, remaining_ms)
    _, user_key, _ = identity(deps.recommending.pseudonyms, tenant.tenant_id, call.user_id, call.session_id, client)
    planned = plan(config, call, user_key, now)
    beside = []
    if planned.experiment is not None:
        experiment, assignments = planned.experiment, deps.assignments
        beside.append(lambda: assign_and_log(assignments, tenant.tenant_id, experiment, user_key,
                                             client.request_id, now))
    rec = ranking.recommend(deps.recommending, tenant, planned.call, client, remaining_ms, beside)
    rec.flow_key = planned.flow.key if planned.flow is not None else None
    rec.grouped = planned.flow is not None and planned.flow.output == "grouped"
    if planned.experiment is not None:
        rec.experiment = {"id": planned.experiment.experiment_id, "variant": planned.variant}
    return rec
