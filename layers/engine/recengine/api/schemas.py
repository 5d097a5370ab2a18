"""Request models (pydantic v2) with a limit on every input."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

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


class InteractionIn(_Strict):
    user_id: Id | None = None
    session_id: ShortId | None = None
    item_id: Id
    type: InteractionType
    value: float | None = Field(default=None, ge=0, le=1000)
    timestamp: float | datetime | None = None
    event_id: ShortId | None = None
    request_id: ShortId | None = None
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
        if isinstance(data, dict) and "interactions" not in data and "item_id" in data:
            return {"interactions": [data]}
        return data


class RecommendRequest(_Strict):
    user_id: Id | None = None
    session_id: ShortId | None = None
    limit: int = Field(default=10, ge=1, le=MAX_LIMIT)
    item_ids: list[Id] | None = Field(default=None, min_length=1, max_length=MAX_CANDIDATES)
    algorithm: Algorithm = "hybrid"
    model_id: ModelId | None = None  # pin a version (GET /v1/models); default: the live one
    source: Literal["model", "batch"] = "model"  # batch: the list precomputed by /v1/recommendations/generate

    @model_validator(mode="after")
    def _identity(self) -> "RecommendRequest":
        if not self.user_id and not self.session_id:
            raise ValueError("user_id or session_id is required")
        return self


class SimilarRequest(_Strict):
    item_id: Id
    limit: int = Field(default=10, ge=1, le=MAX_LIMIT)
    model_id: ModelId | None = None


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
