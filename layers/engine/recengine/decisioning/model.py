"""The decisioning domain's types: what a tenant stores (rules, policies, flows, routing,
experiments) as frozen dataclasses, each with the plain dict form the store keeps."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from ..ranking.rules import Condition, Rule

Effect = Literal["include", "exclude"]
Ranker = Literal["model", "propensity_value", "priority"]
PolicyKind = Literal["frequency_cap", "cooldown", "daily_max"]
Scope = Literal["offer", "channel", "placement"]


def rule_from_dict(data: dict[str, Any]) -> Rule:
    """A request-language Rule (ranking/rules.py) from its stored dict."""
    when = data.get("when")
    condition = Condition(when.get("segments"), when.get("attribute"), when.get("equals")) if when else None
    return Rule(data["field"], data["op"], data.get("value"), data.get("value_from"), condition)


def rule_to_dict(rule: Rule) -> dict[str, Any]:
    out = {k: v for k, v in asdict(rule).items() if v is not None and k != "when"}
    if rule.when is not None:
        out["when"] = {k: v for k, v in asdict(rule.when).items() if v is not None}
    return out


@dataclass(frozen=True)
class Target:
    """Which offers a rule speaks about: listed offer ids, offers of listed categories, or (both empty) all."""

    offer_ids: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    @property
    def everything(self) -> bool:
        return not self.offer_ids and not self.categories


@dataclass(frozen=True)
class QualificationRule:
    """A stored rule: for its target offers, `conditions` (all must hold, written in the request rule
    language over the offer's fields, `segments`, `attributes` and `propensity`) decide an effect."""

    rule_id: str
    name: str
    target: Target
    conditions: tuple[Rule, ...]
    effect: Effect = "include"
    priority: int = 0
    enabled: bool = True


@dataclass(frozen=True)
class ContactPolicy:
    """A contact policy: `frequency_cap` (at most `max_impressions` per `scope` in `window_hours`),
    `cooldown` (no offer, or the same offer with `same_offer`, for `hours` after an `outcome_type`), or
    `daily_max` (at most `max_impressions` per customer per UTC day). `channel` / `placement` restrict
    where it applies (None: everywhere)."""

    policy_id: str
    name: str
    kind: PolicyKind
    max_impressions: int | None = None
    window_hours: float | None = None
    scope: Scope = "offer"
    outcome_type: str | None = None
    hours: float | None = None
    same_offer: bool = True
    channel: str | None = None
    placement: str | None = None
    enabled: bool = True


@dataclass(frozen=True)
class CandidateSource:
    """Where a flow's candidates come from: the model (optionally a model id and an algorithm), or an
    explicit offer set."""

    kind: Literal["model", "offers"] = "model"
    model_id: str | None = None
    algorithm: str | None = None
    offer_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Flow:
    """A named decision pipeline: candidates → qualification rules → contact policies → ranker →
    guardrails (at most `max_per_category` per category) → `limit`, answered grouped or flat."""

    key: str
    name: str
    source: CandidateSource = field(default_factory=CandidateSource)
    rule_ids: tuple[str, ...] = ()
    policy_ids: tuple[str, ...] = ()
    ranker: Ranker = "model"
    max_per_category: int | None = None
    category_field: str = "category"
    limit: int = 5
    output: Literal["flat", "grouped"] = "flat"
    enabled: bool = True


@dataclass(frozen=True)
class Route:
    """A routing rule: requests on `channel` and/or `placement` (None matches any) go to `flow_key`."""

    flow_key: str
    channel: str | None = None
    placement: str | None = None


@dataclass(frozen=True)
class Variant:
    """One arm of an experiment: its share of traffic and what it serves (a flow, a model, or both)."""

    name: str
    weight: float
    flow_key: str | None = None
    model_id: str | None = None


@dataclass(frozen=True)
class Experiment:
    """A traffic split between variants, for requests on `channel` / `placement` (None matches any)."""

    experiment_id: str
    name: str
    variants: tuple[Variant, ...]
    channel: str | None = None
    placement: str | None = None
    enabled: bool = True


# ---------------------------------------------------------------------------- stored form
def encode(obj: Any) -> dict[str, Any]:
    """The dict the store keeps (None fields dropped, tuples as lists, rules in their own form)."""
    if isinstance(obj, QualificationRule):
        return {"rule_id": obj.rule_id, "name": obj.name, "effect": obj.effect, "priority": obj.priority,
                "enabled": obj.enabled, "target": {"offer_ids": list(obj.target.offer_ids),
                                                   "categories": list(obj.target.categories)},
                "conditions": [rule_to_dict(r) for r in obj.conditions]}
    return _plain(asdict(obj))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def decode_rule(data: dict[str, Any]) -> QualificationRule:
    target = data.get("target") or {}
    return QualificationRule(data["rule_id"], data["name"], Target(tuple(target.get("offer_ids") or ()),
                                                                   tuple(target.get("categories") or ())),
                             tuple(rule_from_dict(c) for c in data.get("conditions") or ()),
                             data.get("effect", "include"), int(data.get("priority", 0)),
                             bool(data.get("enabled", True)))


def decode_policy(data: dict[str, Any]) -> ContactPolicy:
    return ContactPolicy(**{k: v for k, v in data.items() if k in ContactPolicy.__dataclass_fields__})


def decode_flow(data: dict[str, Any]) -> Flow:
    source = dict(data.get("source") or {})
    source["offer_ids"] = tuple(source.get("offer_ids") or ())
    fields = {k: v for k, v in data.items() if k in Flow.__dataclass_fields__ and k != "source"}
    fields["rule_ids"] = tuple(fields.get("rule_ids") or ())
    fields["policy_ids"] = tuple(fields.get("policy_ids") or ())
    return Flow(**fields, source=CandidateSource(**source))


def decode_route(data: dict[str, Any]) -> Route:
    return Route(data["flow_key"], data.get("channel"), data.get("placement"))


def decode_experiment(data: dict[str, Any]) -> Experiment:
    variants = tuple(Variant(v["name"], float(v["weight"]), v.get("flow_key"), v.get("model_id"))
                     for v in data.get("variants") or ())
    return Experiment(data["experiment_id"], data["name"], variants, data.get("channel"), data.get("placement"),
                      bool(data.get("enabled", True)))
