"""Request models of the decisioning routes (rules, contact policies, flows, routing, experiments):
strict, bounded, and turned into the domain's dataclasses here so the service never sees the wire."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from ..http.schemas import Algorithm, FieldName, Id, ModelId, ShortId, SlotName, Strict
from ..http.values import MAX_INT_DIGITS, MIN_MAGNITUDE, json_size
from ..ranking.schemas import Rule as ConditionIn
from ..ranking.schemas import given
from .model import (CandidateSource, ContactPolicy, Experiment, Flow, QualificationRule, Route, Target, Variant)

MAX_CONDITIONS = 20
MAX_RULE_BYTES = 8192  # a rule's whole expression, as JSON
MAX_TARGETS = 500
MAX_REFERENCES = 50
MAX_ROUTES = 100
MAX_VARIANTS = 10
MAX_FLOW_LIMIT = 50  # seed 001's maximum `limit`
NUMBER_LIMIT = float(10 ** MAX_INT_DIGITS)  # what the document promises for stored numbers (openapi_bounds)
OutcomeType = Literal["view", "click", "like", "add_to_cart", "purchase"]
Key = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]


def _documented_number(value: object) -> bool:
    """A stored rule's operand is within what the OpenAPI document allows for numbers (0, or a
    magnitude in [1e-130, 1e38)), so every rule the server keeps reads back as documented."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return True
    return value == 0 or MIN_MAGNITUDE <= abs(value) < NUMBER_LIMIT


class TargetIn(Strict):
    """Which offers the rule speaks about; neither list: every offer."""

    offer_ids: list[Id] = Field(default_factory=list, max_length=MAX_TARGETS)
    categories: list[ShortId] = Field(default_factory=list, max_length=MAX_TARGETS)


class RuleIn(Strict):
    """A qualification rule. `conditions` (all must hold) use the recommend request's rule language
    over one document per offer: the offer's fields, `segments`, `attributes` (with
    `attributes.propensityScores.<offer or category>`) and `propensity` (the offer's score, else its
    category's). The highest `priority` rule that targets an offer and holds decides: `include`
    admits it, `exclude` drops it; an offer named by include rules must meet one of them."""

    name: Name
    target: TargetIn = Field(default_factory=TargetIn)
    conditions: list[ConditionIn] = Field(default_factory=list, max_length=MAX_CONDITIONS)
    effect: Literal["include", "exclude"] = "include"
    priority: int = Field(default=0, ge=-1000, le=1000)
    enabled: bool = True

    @model_validator(mode="after")
    def _bounded(self) -> "RuleIn":
        if json_size(self.model_dump(mode="json")) > MAX_RULE_BYTES:
            raise ValueError(f"a rule is at most {MAX_RULE_BYTES} bytes as JSON")
        for n, condition in enumerate(self.conditions):
            operands = [condition.value, condition.when.equals if condition.when else None]
            for value in (v for operand in operands for v in (operand if isinstance(operand, list) else [operand])):
                if not _documented_number(value):
                    raise ValueError(f"conditions.{n}: numbers are 0 or of a magnitude between {MIN_MAGNITUDE:g} "
                                     f"and {NUMBER_LIMIT:g} (exclusive)")
        return self

    def to_rule(self, rule_id: str = "") -> QualificationRule:
        target = Target(tuple(self.target.offer_ids), tuple(self.target.categories))
        return QualificationRule(rule_id, self.name, target,
                                 tuple(c.to_rule() for c in self.conditions), self.effect, self.priority, self.enabled)


class PolicyIn(Strict):
    """A contact policy: `frequency_cap` needs `max_impressions` and `window_hours` (per `scope`:
    offer, channel or placement); `cooldown` needs `outcome_type` and `hours` (`same_offer`: only the
    offer that had the outcome, else every offer); `daily_max` needs `max_impressions` per customer
    per UTC day. `channel` / `placement` restrict where it applies."""

    # What _complete() checks, in the document too: the fields each kind needs.
    model_config = ConfigDict(json_schema_extra={"allOf": [
        {"if": {"properties": {"kind": {"const": kind}}}, "then": given(*needed)}
        for kind, needed in (("frequency_cap", ("max_impressions", "window_hours")),
                             ("cooldown", ("outcome_type", "hours")), ("daily_max", ("max_impressions",)))]})

    name: Name
    kind: Literal["frequency_cap", "cooldown", "daily_max"]
    max_impressions: int | None = Field(default=None, ge=1, le=10_000)
    window_hours: float | None = Field(default=None, gt=0, le=24 * 30)
    scope: Literal["offer", "channel", "placement"] = "offer"
    outcome_type: OutcomeType | None = None
    hours: float | None = Field(default=None, gt=0, le=24 * 365)
    same_offer: bool = True
    channel: SlotName | None = None
    placement: SlotName | None = None
    enabled: bool = True

    @model_validator(mode="after")
    def _complete(self) -> "PolicyIn":
        needed = {"frequency_cap": ("max_impressions", "window_hours"), "cooldown": ("outcome_type", "hours"),
                  "daily_max": ("max_impressions",)}[self.kind]
        missing = [name for name in needed if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a {self.kind} policy needs {' and '.join(missing)}")
        return self

    def to_policy(self, policy_id: str = "") -> ContactPolicy:
        return ContactPolicy(policy_id, **self.model_dump())


class SourceIn(Strict):
    """The flow's candidates: the model (a `model_id`, else the live one; an `algorithm`), or `offers`."""

    kind: Literal["model", "offers"] = "model"
    model_id: ModelId | None = None
    algorithm: Algorithm | None = None
    offer_ids: list[Id] = Field(default_factory=list, max_length=MAX_TARGETS)

    @model_validator(mode="after")
    def _offers(self) -> "SourceIn":
        if self.kind == "offers" and not self.offer_ids:
            raise ValueError("an `offers` source needs offer_ids")
        return self


class FlowIn(Strict):
    """A decision flow: candidates, then the named rules and policies, then the ranker (`model` score,
    `propensity_value` = propensity × the offer's business `value`, or the offer's `priority`), at
    most `max_per_category` per category, `limit` offers, answered `flat` or `grouped`."""

    name: Name
    source: SourceIn = Field(default_factory=SourceIn)
    rule_ids: list[ShortId] = Field(default_factory=list, max_length=MAX_REFERENCES)
    policy_ids: list[ShortId] = Field(default_factory=list, max_length=MAX_REFERENCES)
    ranker: Literal["model", "propensity_value", "priority"] = "model"
    max_per_category: int | None = Field(default=None, ge=1, le=MAX_FLOW_LIMIT)
    category_field: FieldName = "category"
    limit: int = Field(default=5, ge=1, le=MAX_FLOW_LIMIT)
    output: Literal["flat", "grouped"] = "flat"
    enabled: bool = True

    def to_flow(self, key: str) -> Flow:
        data = self.model_dump(exclude={"key"})
        source = CandidateSource(**{**data.pop("source"), "offer_ids": tuple(self.source.offer_ids)})
        return Flow(key=key, source=source, **{**data, "rule_ids": tuple(self.rule_ids),
                                                "policy_ids": tuple(self.policy_ids)})


class NewFlowIn(FlowIn):
    """A new decision flow and its key (what requests send as `decisionFlowKey`)."""

    key: Key


class RouteIn(Strict):
    """Requests on `channel` and/or `placement` (absent: any) go to `flow_key`."""

    flow_key: Key
    channel: SlotName | None = None
    placement: SlotName | None = None


class RoutingIn(Strict):
    """The tenant's routing rules, replaced as a whole; the most specific match wins."""

    routes: list[RouteIn] = Field(max_length=MAX_ROUTES)

    def to_routes(self) -> list[Route]:
        return [Route(r.flow_key, r.channel, r.placement) for r in self.routes]


class VariantIn(Strict):
    """One arm: its share of traffic (relative to the others' weights) and what it serves."""

    weight: float = Field(gt=0, le=10_000)
    flow_key: Key | None = None
    model_id: ModelId | None = None


class ExperimentIn(Strict):
    """A traffic split: each customer key falls in one variant (keyed by name; names are unique by
    construction) by a stable hash, in proportion to the weights, taken in name order so that
    reordering the object moves nobody; requests on `channel` / `placement` (absent: any)."""

    name: Name
    variants: dict[Key, VariantIn] = Field(min_length=2, max_length=MAX_VARIANTS)
    channel: SlotName | None = None
    placement: SlotName | None = None
    enabled: bool = True

    def to_experiment(self, experiment_id: str = "") -> Experiment:
        variants = tuple(Variant(name, v.weight, v.flow_key, v.model_id) for name, v in sorted(self.variants.items()))
        return Experiment(experiment_id, self.name, variants, self.channel, self.placement, self.enabled)
