"""Interaction request models: one event or a batch, with the camelCase names other APIs use."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from ..http.batches import BatchRequest
from ..http.schemas import MAX_BATCH, Id, NestedContext, ShortId, Strict, aliases
from ..http.values import MIN_MAGNITUDE, storable_number
from .model import EventIn

EARLIEST_TS = 946_684_800.0  # 2000-01-01
FUTURE_SKEW_S = 300.0
InteractionType = Literal["view", "click", "like", "add_to_cart", "purchase"]


class InteractionIn(Strict):
    """One event; camelCase names (userId, itemId, interactionType, ...) are accepted too."""

    # user_id or session_id (not null); the timestamp from 2000-01-01 (and at most now + 5 min, which
    # no static schema can say: see its description).
    model_config = ConfigDict(extra="forbid", populate_by_name=True, json_schema_extra={
        "anyOf": [{"required": [n], "properties": {n: {"not": {"type": "null"}}}} for n in ("user_id", "session_id")]})

    user_id: Id | None = Field(default=None, validation_alias=aliases("user_id", "userId", "customerId"))
    session_id: ShortId | None = Field(default=None, validation_alias=aliases("session_id", "sessionId"))
    item_id: Id = Field(validation_alias=aliases("item_id", "itemId"))
    type: InteractionType = Field(validation_alias=aliases("type", "interactionType", "interaction_type"))
    # 0 or from 1e-130: DynamoDB stores no smaller magnitude (a weight it refuses would never land).
    value: Annotated[float, AfterValidator(storable_number)] | None = Field(
        default=None, ge=0, le=1000, json_schema_extra={"anyOf": [
            {"type": "null"}, {"const": 0}, {"type": "number", "minimum": MIN_MAGNITUDE, "maximum": 1000}]})
    timestamp: float | datetime | None = Field(default=None, json_schema_extra={"minimum": EARLIEST_TS},
                                               description="Epoch seconds or an ISO 8601 date-time, from "
                                               "2000-01-01 to at most 5 minutes after the server's clock.")
    event_id: ShortId | None = Field(default=None, validation_alias=aliases("event_id", "eventId"))
    # The served list this event answers (recommend's rec_id / meta.request_id): makes it an outcome.
    request_id: ShortId | None = Field(default=None, validation_alias=aliases("request_id", "requestId", "rec_id",
                                                                               "recId", "interactionId"))
    context: NestedContext | None = None  # the same bounds as recommend's context (nested keys flattened)

    @model_validator(mode="after")
    def _check(self) -> "InteractionIn":
        if not self.user_id and not self.session_id:
            raise ValueError("user_id or session_id is required")
        if isinstance(self.timestamp, datetime):
            self.timestamp = self.timestamp.timestamp()
        if self.timestamp is not None and not (EARLIEST_TS <= self.timestamp <= time.time() + FUTURE_SKEW_S):
            raise ValueError("timestamp must be between 2000-01-01 and now")
        return self

    def to_event(self) -> EventIn:
        return EventIn(**self.model_dump())


class InteractionsRequest(BatchRequest):
    """A batch (`{"interactions": [...]}`) or, for simple clients, one bare event; taken entry by entry
    (`split`), an invalid event is rejected by index and the others recorded."""

    entries_field: ClassVar[str] = "interactions"
    entry_model: ClassVar[type] = InteractionIn
    interactions: list[InteractionIn] = Field(min_length=1, max_length=MAX_BATCH)

    @classmethod
    def envelope(cls, data: Any) -> Any:
        return as_batch(data)

    @model_validator(mode="before")
    @classmethod
    def _single(cls, data: Any) -> Any:
        return as_batch(data)

    def to_events(self) -> list[EventIn]:
        return [e.to_event() for e in self.interactions]


def as_batch(data: Any) -> Any:
    """A bare event (an object naming an item, no `interactions`) read as a batch of one."""
    if isinstance(data, dict) and "interactions" not in data and ("item_id" in data or "itemId" in data):
        return {"interactions": [data]}
    return data

