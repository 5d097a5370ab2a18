"""Interaction events as the ingestion service takes and answers them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

# Default confidence weight of each interaction type; a caller's `value` overrides it.
TYPE_WEIGHTS: dict[str, float] = {"view": 1.0, "click": 2.0, "like": 4.0, "add_to_cart": 6.0, "purchase": 8.0}


@dataclass(frozen=True)
class EventIn:
    """One interaction as sent: a user and/or a session did `type` to an item."""

    item_id: str
    type: str
    user_id: str | None = None
    session_id: str | None = None
    value: float | None = None  # overrides the type's weight
    timestamp: float | None = None  # epoch seconds; now when absent
    event_id: str | None = None  # makes the event idempotent
    request_id: str | None = None  # the served list this event is an outcome of
    context: Mapping[str, Any] | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int
    event_ids: list[str]
    duplicate_event_ids: list[str]
