"""Recommend and similar request models: one model per route, other APIs' field names accepted
as aliases, a limit on every input."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from pydantic.types import FiniteFloat

from ..http.schemas import (MAX_CANDIDATES, MAX_CONTEXT_KEYS, Algorithm, CreativeId, FieldName, Id, ModelId,
                            NestedContext, Scalar, ShortId, SlotName, Strict, aliases, free_json)
from . import rules as domain
from .query import MAX_LIMIT, RecommendCall

MAX_RULES = 20
MAX_PLACEMENTS = 10
MAX_SEGMENTS = 50
MAX_ATTRIBUTES_BYTES = 4096
Attributes = free_json(MAX_ATTRIBUTES_BYTES, "Request attributes rules can read")
# Where the same thing has different names in the APIs clients come from: canonical name first.
RECOMMEND_ALIASES = {"user_id": ("userId", "customerId"), "session_id": ("sessionId",),
                     "limit": ("k", "count"), "model_id": ("model_name", "modelId"),
                     "exclude_items": ("excludeOffers", "excludeItems"),
                     "item_ids": ("itemIds", "candidates"), "frequency_cap": ("frequencyCap",),
                     "timeout_ms": ("timeoutMs",), "decision_flow_key": ("decisionFlowKey",),
                     "channel_id": ("channelId",), "exclude_creatives": ("excludeCreatives",)}
MAX_CREATIVE_EXCLUSIONS = 1000


# A rule value taken from the request: its `segments`, or one of its `attributes.<name>`.
ValueFrom = Annotated[str, StringConstraints(pattern=r"^(segments|attributes\.[A-Za-z0-9_.:-]{1,64})$")]


NOT_NULL = {"not": {"type": "null"}}
# A decision flow's key, as the decisioning routes store it.
FlowKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]


def given(*names: str) -> dict:
    """JSON Schema: each of `names` present and not null."""
    return {"required": list(names), "properties": {n: NOT_NULL for n in names}}


class Condition(Strict):
    """When a rule applies: the request is in any of `segments`, and/or an attribute has a value."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [given("segments"), given("attribute")]})

    segments: list[ShortId] | None = Field(default=None, min_length=1, max_length=MAX_SEGMENTS)
    attribute: FieldName | None = None
    equals: Scalar | list[Scalar] | None = None

    @model_validator(mode="after")
    def _something(self) -> "Condition":
        if self.segments is None and self.attribute is None:
            raise ValueError("a condition needs `segments` or `attribute`")
        return self

    def to_condition(self) -> domain.Condition:
        return domain.Condition(self.segments, self.attribute, self.equals)


class Rule(Strict):
    """A filter on item metadata: `field op value` (or `value_from` the request); optional `when`."""

    # What _operand() checks, in the document too: one operand (but for exists/missing), never both,
    # two values for `between`, at most MAX_CANDIDATES values in a list.
    model_config = ConfigDict(json_schema_extra={"allOf": [
        {"not": given("value", "value_from")},
        {"if": {"properties": {"op": {"enum": ["in", "not_in", "eq", "ne", "lt", "lte", "gt", "gte", "between"]}}},
         "then": {"anyOf": [given("value"), given("value_from")]}},
        {"if": {"properties": {"op": {"const": "between"}}},
         "then": {"properties": {"value": {"anyOf": [{"type": "null"},
                                                     {"type": "array", "minItems": 2, "maxItems": 2}]}}}},
        {"properties": {"value": {"anyOf": [{"not": {"type": "array"}}, {"maxItems": MAX_CANDIDATES}]}}},
    ]})

    field: FieldName
    op: Literal["in", "not_in", "eq", "ne", "lt", "lte", "gt", "gte", "between", "exists", "missing"]
    value: Scalar | list[Scalar] | None = None
    value_from: ValueFrom | None = None
    when: Condition | None = None

    @model_validator(mode="after")
    def _operand(self) -> "Rule":
        needs_value = self.op not in ("exists", "missing")
        has_value = self.value is not None or self.value_from is not None
        if needs_value and not has_value:
            raise ValueError(f"op {self.op!r} needs `value` or `value_from`")
        if self.value is not None and self.value_from is not None:
            raise ValueError("give `value` or `value_from`, not both")
        if isinstance(self.value, list) and len(self.value) > MAX_CANDIDATES:
            raise ValueError(f"at most {MAX_CANDIDATES} values")
        if self.op == "between" and self.value is not None and (not isinstance(self.value, list) or len(self.value) != 2):
            raise ValueError("op 'between' takes [low, high]")
        return self

    def to_rule(self) -> domain.Rule:
        return domain.Rule(self.field, self.op, self.value, self.value_from,
                           self.when.to_condition() if self.when else None)


class Filters(Strict):
    """Shorthand for common rules: include/exclude by field values, numeric ranges."""

    include: dict[FieldName, Scalar | list[Scalar]] | None = None
    exclude: dict[FieldName, Scalar | list[Scalar]] | None = None
    range: dict[FieldName, dict[Literal["min", "max"], FiniteFloat]] | None = None

    def rules(self) -> list[Rule]:
        out = [Rule(field=f, op="in", value=v if isinstance(v, list) else [v]) for f, v in (self.include or {}).items()]
        out += [Rule(field=f, op="not_in", value=v if isinstance(v, list) else [v]) for f, v in (self.exclude or {}).items()]
        for f, bounds in (self.range or {}).items():
            if "min" in bounds:
                out.append(Rule(field=f, op="gte", value=bounds["min"]))
            if "max" in bounds:
                out.append(Rule(field=f, op="lte", value=bounds["max"]))
        return out


class PlacementIn(Strict):
    placement_id: SlotName = Field(validation_alias=AliasChoices("placement_id", "placementId"))
    limit: int | None = Field(default=None, ge=1)


class FrequencyCap(Strict):
    """Contact policy: an item shown to the user `max_impressions` times on this surface in the last
    `window_hours` is not shown again."""

    max_impressions: int = Field(ge=1, le=1000, validation_alias=AliasChoices("max_impressions", "maxImpressions"))
    window_hours: float = Field(gt=0, le=24 * 30, validation_alias=AliasChoices("window_hours", "windowHours"))


class RecommendRequest(BaseModel):
    """The one recommend request; other APIs' field names are accepted as aliases (RECOMMEND_ALIASES),
    `user: {user_id, session_id}` is flattened, unknown fields are reported in warnings, not refused."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    user_id: Id | None = None
    session_id: ShortId | None = None
    limit: int = Field(default=10, ge=1)
    item_ids: list[Id] | None = Field(default=None, min_length=1, max_length=MAX_CANDIDATES)
    algorithm: Algorithm = "hybrid"
    model_id: ModelId | None = None
    surface: SlotName | None = None
    channel: SlotName | None = None  # e.g. web, email; the surface too when no surface/placement is named
    channel_id: SlotName | None = None  # a specific channel (offers and creatives may name one), beside its type
    placement: SlotName | None = None  # the slot type (e.g. hero_banner): the surface too when none is named
    decision_flow_key: FlowKey | None = Field(default=None, description="The decision flow to run (else routing "
                                              "by channel and placement chooses one, if the tenant has any).")
    context: NestedContext | None = None
    locale: ShortId | None = None
    currency: ShortId | None = None
    filters: Filters | list[Rule] | None = None
    rules: list[Rule] | None = Field(default=None, max_length=MAX_RULES)
    exclude_items: list[Id] | None = Field(default=None, max_length=MAX_CANDIDATES)  # excludeOffers too
    exclude_creatives: list[CreativeId] | None = Field(default=None, max_length=MAX_CREATIVE_EXCLUSIONS)
    segments: list[ShortId] | None = Field(default=None, max_length=MAX_SEGMENTS)
    attributes: Attributes | None = None
    placements: list[PlacementIn] | None = Field(default=None, min_length=1, max_length=MAX_PLACEMENTS,
                                                 description="Slots of the answer, each `placement_id` once.")
    deduplicate: bool = False
    debug: bool = False
    frequency_cap: FrequencyCap | None = None
    timeout_ms: int | None = Field(default=None, ge=10, le=29_000)
    source: Literal["model", "batch"] = "model"  # batch: the list precomputed by /v1/recommendations/generate
    ignored_fields: list[str] = Field(default_factory=list, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _canonical(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        user = data.pop("user", None)
        if isinstance(user, dict):
            for key, alias in (("user_id", "user_id"), ("session_id", "session_id"),
                               ("user_id", "userId"), ("session_id", "sessionId")):
                if user.get(alias) is not None:
                    data.setdefault(key, user[alias])
        elif user is not None:
            data["user_id"] = user  # a bare `user: "u1"` reads as the user id
        # Where the list is shown: `surface`, else `placement`, else `channel` (which also stays itself).
        placement = data.get("placement")  # kept as itself too: flows route and offers are eligible on it
        if data.get("surface") is None:
            data["surface"] = placement if placement is not None else data.get("channel")
        for canonical, names in RECOMMEND_ALIASES.items():
            for alias in names:
                if alias in data:
                    data.setdefault(canonical, data.pop(alias))
        known = set(cls.model_fields) - {"ignored_fields"}
        ignored = sorted(k for k in data if k not in known)
        for k in ignored:
            data.pop(k)
        data["ignored_fields"] = ignored
        return data

    @field_validator("attributes")
    @classmethod
    def _attributes_size(cls, value: dict | None) -> dict | None:
        if value is not None and len(value) > MAX_CONTEXT_KEYS:
            raise ValueError(f"attributes: at most {MAX_CONTEXT_KEYS} keys")
        return value

    def all_rules(self) -> list[Rule]:
        """Filter rules from `filters` (shorthand or list) and `rules`, in that order."""
        out: list[Rule] = []
        if isinstance(self.filters, Filters):
            out += self.filters.rules()
        elif self.filters:
            out += self.filters
        out += self.rules or []
        if len(out) > MAX_RULES:
            raise ValueError(f"at most {MAX_RULES} rules")
        return out

    @model_validator(mode="after")
    def _rules_count(self) -> "RecommendRequest":
        self.all_rules()
        if self.placements and len({p.placement_id for p in self.placements}) != len(self.placements):
            raise ValueError("placement ids must be unique")
        return self

    def to_call(self) -> RecommendCall:
        """The request in canonical form, for the ranking service."""
        cap = self.frequency_cap
        return RecommendCall(
            user_id=self.user_id, session_id=self.session_id, limit=self.limit, item_ids=self.item_ids,
            algorithm=self.algorithm, model_id=self.model_id, surface=self.surface, channel=self.channel,
            context=self.context, locale=self.locale, currency=self.currency,
            rules=[r.to_rule() for r in self.all_rules()], exclude_items=self.exclude_items or (),
            segments=self.segments, attributes=self.attributes,
            placements=[(p.placement_id, p.limit) for p in self.placements] if self.placements else None,
            deduplicate=self.deduplicate, debug=self.debug,
            frequency_cap=(cap.max_impressions, cap.window_hours) if cap else None, timeout_ms=self.timeout_ms,
            source=self.source, ignored_fields=self.ignored_fields, placement=self.placement,
            decision_flow_key=self.decision_flow_key, channel_id=self.channel_id,
            exclude_creatives=self.exclude_creatives or ())


class SimilarRequest(Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    item_id: Id = Field(validation_alias=aliases("item_id", "itemId"))
    limit: int = Field(default=10, ge=1, le=MAX_LIMIT, validation_alias=aliases("limit", "count", "k"))
    model_id: ModelId | None = Field(default=None, validation_alias=aliases("model_id", "model_name", "modelId"))
