"""Interaction events as the ingestion service takes and answers them."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from decimal import Context, Decimal
from typing import Any, Mapping

# Confidence weight of each interaction type; a caller's `value` scales it.
TYPE_WEIGHTS: dict[str, float] = {"view": 1.0, "click": 2.0, "like": 4.0, "add_to_cart": 6.0, "purchase": 8.0}


def event_weight(type_: str, value: float | None) -> float:
    """The training weight of one event: its type's weight, scaled by `value` when sent (RecommendAI's
    0-1 `value`: a purchase with value 1.0 weighs a full purchase, 0.5 half of one; above 1, more)."""
    weight = TYPE_WEIGHTS[type_]
    return weight * float(value) if value is not None else weight


@dataclass(frozen=True)
class EventIn:
    """One interaction as sent: a user and/or a session did `type` to an item."""

    item_id: str
    type: str
    user_id: str | None = None
    session_id: str | None = None
    value: float | None = None  # scales the type's weight
    timestamp: float | None = None  # epoch seconds; now when absent
    event_id: str | None = None  # makes the event idempotent
    request_id: str | None = None  # the served list this event is an outcome of
    context: Mapping[str, Any] | None = None

    def as_dict(self) -> dict:
        return asdict(self)


# What became of each event of a batch.
ACCEPTED, DUPLICATE, CONFLICT, NOT_STORED = "accepted", "duplicate", "conflict", "not_stored"
# The fields a caller sets: two events with one id are the same event when these agree.
CLIENT_FIELDS = ("user_id", "session_id", "item_id", "type", "value", "timestamp", "request_id", "context")
_EXACT = Context(prec=80)


def _canonical(value: Any) -> Any:
    """A value as DynamoDB keeps it: 5 and 5.0 are one number, whatever JSON or the table made of it."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float, Decimal)):
        return str(_EXACT.create_decimal(repr(value) if isinstance(value, float) else value).normalize(_EXACT))
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return str(value)


def fingerprint(event: Mapping[str, Any], with_timestamp: bool = True) -> str:
    """A digest of what the caller sent (a timestamp only when the caller set one): a reused event id
    whose fingerprint differs names another event, a conflict."""
    body = {k: _canonical(event.get(k)) for k in CLIENT_FIELDS if with_timestamp or k != "timestamp"}
    body["context"] = body["context"] or None
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class IngestResult:
    """`event_ids` are those now in the history (new or duplicate), in request order; `outcomes` and
    `ids` say what became of each event given, by position (ids generated where none was sent)."""

    accepted: int
    duplicates: int
    event_ids: list[str]
    duplicate_event_ids: list[str]
    outcomes: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def event_row_problem(row: Mapping[str, Any], user_row: bool = False, full: bool = False) -> str | None:
    """Why a stored event row cannot be trained on or served from (written before the edge's
    validation, or corrupted), or None: readers skip such a row rather than fail. A `user_row` (the
    user history, the by_tenant index training reads) must name its user; a `full` row (read from the
    table, not the by_tenant index, which keeps the event id only in the sort key) its event id."""
    for name in ("sk", "item_id", "type", *(("user_id",) if user_row else ()), *(("event_id",) if full else ())):
        if not isinstance(row.get(name), str) or not row[name]:
            return f"{name} is not text"
    for name in ("user_id", "session_id", "event_id"):
        if row.get(name) is not None and not isinstance(row[name], str):
            return f"{name} is not text"
    if not _number(row.get("weight")) or row["weight"] < 0:
        return "weight is not a non-negative number"
    if row.get("ts") is not None and not _number(row["ts"]):
        return "ts is not a number"
    context = row.get("context")
    if context is not None and not (isinstance(context, dict) and all(
            isinstance(k, str) and (v is None or isinstance(v, (str, bool)) or _number(v))
            for k, v in context.items())):
        return "context is not an object of scalars"
    return None
