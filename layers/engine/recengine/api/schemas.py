"""Request models (pydantic v2) with a limit on every input."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

MAX_BATCH = 500
MAX_LIMIT = 100
MAX_CANDIDATES = 1000
MAX_METADATA_BYTES = 16_384
MAX_CONTEXT_KEYS = 32
EARLIEST_TS = 946_684_800.0  # 2000-01-01
FUTURE_SKEW_S = 300.0

Id = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$")]
ShortId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]
InteractionType = Literal["view", "click", "like", "add_to_cart", "purchase"]
Algorithm = Literal["hybrid", "collaborative", "content-based", "popular", "trending"]
SlotName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")]
ModelId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^model_[A-Za-z0-9._-]+$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


def _json_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, default=str).encode())


class ItemIn(_Strict):
    """An item: `id`, optional `active`, and free-form metadata (nested or at the top level)."""

    id: Id
    active: bool = True
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _fold_extras(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("metadata", {}), dict):
            known = ("id", "active", "metadata")
            extras = {k: v for k, v in data.items() if k not in known}
            if extras:
                data = {k: data[k] for k in known if k in data}
                data["metadata"] = {**data.get("metadata", {}), **extras}
        return data

    @field_validator("metadata")
    @classmethod
    def _size(cls, metadata: dict[str, Any]) -> dict[str, Any]:
        if _json_size(metadata) > MAX_METADATA_BYTES:
            raise ValueError(f"metadata larger than {MAX_METADATA_BYTES} bytes")
        return metadata


class UpsertItemsRequest(_Strict):
    items: list[ItemIn] = Field(min_length=1, max_length=MAX_BATCH)

    @field_validator("items")
    @classmethod
    def _unique(cls, items: list[ItemIn]) -> list[ItemIn]:
        ids = [i.id for i in items]
        if len(set(ids)) != len(ids):
            raise ValueError("item ids must be unique within a batch")
        return items


class ListItemsQuery(_Strict):
    limit: int = Field(default=20, ge=1, le=100)
    cursor: Annotated[str, StringConstraints(max_length=2048)] | None = None
    search: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None


def _alias(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class InteractionIn(_Strict):
    """One event; camelCase names (userId, itemId, interactionType, ...) are accepted too."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    user_id: Id | None = Field(default=None, validation_alias=_alias("user_id", "userId", "customerId"))
    session_id: ShortId | None = Field(default=None, validation_alias=_alias("session_id", "sessionId"))
    item_id: Id = Field(validation_alias=_alias("item_id", "itemId"))
    type: InteractionType = Field(validation_alias=_alias("type", "interactionType", "interaction_type"))
    value: float | None = Field(default=None, ge=0, le=1000)
    timestamp: float | datetime | None = None
    event_id: ShortId | None = Field(default=None, validation_alias=_alias("event_id", "eventId"))
    # The served list this event answers (recommend's rec_id / meta.request_id): makes it an outcome.
    request_id: ShortId | None = Field(default=None, validation_alias=_alias("request_id", "requestId", "rec_id",
                                                                               "recId", "interactionId"))
    context: dict[str, str | int | float | bool | None] | None = None

    @model_validator(mode="after")
    def _check(self) -> "InteractionIn":
        if not self.user_id and not self.session_id:
            raise ValueError("user_id or session_id is required")
        if isinstance(self.timestamp, datetime):
            self.timestamp = self.timestamp.timestamp()
        if self.timestamp is not None and not (EARLIEST_TS <= self.timestamp <= time.time() + FUTURE_SKEW_S):
            raise ValueError("timestamp must be between 2000-01-01 and now")
        if self.context is not None and len(self.context) > MAX_CONTEXT_KEYS:
            raise ValueError(f"context has more than {MAX_CONTEXT_KEYS} keys")
        return self


class InteractionsRequest(_Strict):
    """A batch (`{"interactions": [...]}`) or, for simple clients, one bare event."""

    interactions: list[InteractionIn] = Field(min_length=1, max_length=MAX_BATCH)

    @model_validator(mode="before")
    @classmethod
    def _single(cls, data: Any) -> Any:
        if isinstance(data, dict) and "interactions" not in data and ("item_id" in data or "itemId" in data):
            return {"interactions": [data]}
        return data


Scalar = str | int | float | bool
FieldName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
ContextValue = Annotated[str, StringConstraints(max_length=256)] | int | float | bool | None
MAX_RULES = 20
MAX_PLACEMENTS = 10
MAX_SEGMENTS = 50
MAX_ATTRIBUTES_BYTES = 4096
# Where the same thing has different names in the APIs clients come from: canonical name first.
RECOMMEND_ALIASES = {"user_id": ("userId", "customerId"), "session_id": ("sessionId",),
                     "limit": ("k", "count"), "model_id": ("model_name", "modelId"),
                     "exclude_items": ("excludeOffers", "excludeItems"),
                     "item_ids": ("itemIds", "candidates"), "frequency_cap": ("frequencyCap",),
                     "timeout_ms": ("timeoutMs",)}


# A rule value taken from the request: its `segments`, or one of its `attributes.<name>`.
ValueFrom = Annotated[str, StringConstraints(pattern=r"^(segments|attributes\.[A-Za-z0-9_.:-]{1,64})$")]


class Condition(_Strict):
    """When a rule applies: the request is in any of `segments`, and/or an attribute has a value."""

    segments: list[ShortId] | None = Field(default=None, min_length=1, max_length=MAX_SEGMENTS)
    attribute: FieldName | None = None
    equals: Scalar | list[Scalar] | None = None

    @model_validator(mode="after")
    def _something(self) -> "Condition":
        if self.segments is None and self.attribute is None:
            raise ValueError("a condition needs `segments` or `attribute`")
        return self


class Rule(_Strict):
    """A filter on item metadata: `field op value` (or `value_from` the request); optional `when`."""

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


class Filters(_Strict):
    """Shorthand for common rules: include/exclude by field values, numeric ranges."""

    include: dict[FieldName, Scalar | list[Scalar]] | None = None
    exclude: dict[FieldName, Scalar | list[Scalar]] | None = None
    range: dict[FieldName, dict[Literal["min", "max"], float]] | None = None

    def rules(self) -> list[Rule]:
        out = [Rule(field=f, op="in", value=v if isinstance(v, list) else [v]) for f, v in (self.include or {}).items()]
        out += [Rule(field=f, op="not_in", value=v if isinstance(v, list) else [v]) for f, v in (self.exclude or {}).items()]
        for f, bounds in (self.range or {}).items():
            if "min" in bounds:
                out.append(Rule(field=f, op="gte", value=bounds["min"]))
            if "max" in bounds:
                out.append(Rule(field=f, op="lte", value=bounds["max"]))
        return out


class PlacementIn(_Strict):
    placement_id: SlotName = Field(validation_alias=AliasChoices("placement_id", "placementId"))
    limit: int | None = Field(default=None, ge=1)


class FrequencyCap(_Strict):
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
    context: dict[FieldName, ContextValue] | None = None
    locale: ShortId | None = None
    currency: ShortId | None = None
    filters: Filters | list[Rule] | None = None
    rules: list[Rule] | None = Field(default=None, max_length=MAX_RULES)
    exclude_items: list[Id] | None = Field(default=None, max_length=MAX_CANDIDATES)
    segments: list[ShortId] | None = Field(default=None, max_length=MAX_SEGMENTS)
    attributes: dict[FieldName, Any] | None = None
    placements: list[PlacementIn] | None = Field(default=None, min_length=1, max_length=MAX_PLACEMENTS)
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
        placement = data.pop("placement", None)
        if data.get("surface") is None:
            data["surface"] = placement if placement is not None else data.get("channel")
        for canonical, aliases in RECOMMEND_ALIASES.items():
            for alias in aliases:
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
        if value is not None and (len(value) > MAX_CONTEXT_KEYS or _json_size(value) > MAX_ATTRIBUTES_BYTES):
            raise ValueError(f"attributes: at most {MAX_CONTEXT_KEYS} keys and {MAX_ATTRIBUTES_BYTES} bytes")
        return value

    @field_validator("context")
    @classmethod
    def _context_size(cls, value: dict | None) -> dict | None:
        if value is not None and len(value) > MAX_CONTEXT_KEYS:
            raise ValueError(f"context has more than {MAX_CONTEXT_KEYS} keys")
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


class SimilarRequest(_Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    item_id: Id = Field(validation_alias=_alias("item_id", "itemId"))
    limit: int = Field(default=10, ge=1, le=MAX_LIMIT, validation_alias=_alias("limit", "count", "k"))
    model_id: ModelId | None = Field(default=None, validation_alias=_alias("model_id", "model_name", "modelId"))


MAX_SEGMENT_USERS = 10_000


class GenerateRequest(_Strict):
    """A batch generation: `user_ids` (a segment) or, when absent, every user with events."""

    algorithm: Algorithm = "hybrid"
    count: int = Field(default=10, ge=1, le=MAX_LIMIT)
    user_ids: list[Id] | None = Field(default=None, min_length=1, max_length=MAX_SEGMENT_USERS)


class ModelView(BaseModel):
    """One model version as `GET /v1/models` shows it."""

    model_config = ConfigDict(extra="ignore")

    model_id: str
    algorithm: str | None = None
    version: int | None = None
    status: Literal["training", "candidate", "live", "retired", "failed"]
    live: bool = False
    created_at: float | None = None
    finished_at: float | None = None
    live_at: float | None = None
    retired_at: float | None = None
    metrics: dict[str, float | int | None] = Field(default_factory=dict)
    artefact: str | None = None
    artefact_deleted: bool = False
    promotion_reason: str | None = None
    replaced_model_id: str | None = None
    interactions: int | None = None
    error: str | None = None


class JobView(BaseModel):
    """A training job (`GET /v1/models/jobs/{job_id}`) or batch job (`GET /v1/recommendations/jobs/{job_id}`)."""

    model_config = ConfigDict(extra="ignore")

    job_id: str
    kind: Literal["train", "batch"]
    status: Literal["queued", "running", "succeeded", "skipped", "failed"]
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    result_model_id: str | None = None
    model_status: str | None = None
    detail: str | None = None
    error: str | None = None
    # batch generation
    algorithm: str | None = None
    count: int | None = None
    total_users: int | None = None
    chunks: int | None = None
    chunks_done: int | None = None
    progress: float | None = None
    output: str | None = None
