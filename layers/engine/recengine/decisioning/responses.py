"""Response models of the decisioning routes (the documented shape of what they answer): each
object as its request fields plus its id and when it was written; lists under a plural name."""

from __future__ import annotations

from ..http.schemas import Strict
from .schemas import ExperimentIn, NewFlowIn, PolicyIn, RoutingIn, RuleIn


class RuleView(RuleIn):
    """A stored qualification rule."""

    rule_id: str
    created_at: float
    updated_at: float


class PolicyView(PolicyIn):
    """A stored contact policy."""

    policy_id: str
    created_at: float
    updated_at: float


class FlowView(NewFlowIn):
    """A stored decision flow."""

    created_at: float
    updated_at: float


class ExperimentView(ExperimentIn):
    """A stored experiment."""

    experiment_id: str
    created_at: float
    updated_at: float


class RuleList(Strict):
    """The tenant's qualification rules, oldest first."""

    rules: list[RuleView]


class PolicyList(Strict):
    """The tenant's contact policies, oldest first."""

    policies: list[PolicyView]


class FlowList(Strict):
    """The tenant's decision flows, oldest first."""

    flows: list[FlowView]


class ExperimentList(Strict):
    """The tenant's experiments, oldest first."""

    experiments: list[ExperimentView]


class RoutingView(RoutingIn):
    """The tenant's routing rules."""
