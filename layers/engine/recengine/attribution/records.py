"""Exposure, outcome and assignment records (schemas/exposure.v1.json, outcome.v1.json, assignment.v1.json)
for attribution logs.

Runs inside the Lambda functions, so standard library only: the records are built to the schemas'
rules here, and checked against the JSON Schemas offline (report.py, tests), not on the serving path.
Users and sessions appear only as pseudonymous keys (`pseudonymous_id`): an analyst can count and join
them, but the logs never carry a raw user id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

EXPOSURE_SCHEMA = "exposure.v1"
OUTCOME_SCHEMA = "outcome.v1"
ASSIGNMENT_SCHEMA = "assignment.v1"
SCHEMAS = (EXPOSURE_SCHEMA, OUTCOME_SCHEMA, ASSIGNMENT_SCHEMA)
OUTCOME_TYPES = ("view", "click", "like", "add_to_cart", "purchase")
MAX_ITEMS = 100  # exposure.v1 items.maxItems: the API's largest `limit`

PSEUDONYM = re.compile(r"p_[0-9a-f]{32}")


def pseudonymous_id(key: str, tenant_id: str, raw: str) -> str:
    """A stable, tenant-scoped stand-in for a user or session id, keyed by the deployment's secret
    pseudonym key (Secrets Manager): the same raw id in two tenants gives two unrelated keys, so logs cannot be
    joined across tenants on it. Changing the key breaks joins across the change."""
    message = f"{tenant_id}\x00{raw}".encode()
    return "p_" + hmac.new(key.encode(), message, hashlib.sha256).hexdigest()[:32]


def _pseudonym(name: str, value: str | None, nullable: bool = False) -> str | None:
    """Refuse anything but a pseudonymous key, so a raw id passed by mistake never reaches a log."""
    if value is None and nullable:
        return None
    if not isinstance(value, str) or not PSEUDONYM.fullmatch(value):
        raise ValueError(f"{name} must be a pseudonymous key (pseudonymous_id), not a raw id")
    return value


def _number(name: str, value: Any) -> float:
    """JSON has no NaN or infinity: a non-finite number would make the whole line unreadable."""
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number")
    return number


def exposure_record(*, request_id: str, tenant_id: str, user_key: str, session_key: str | None,
                    surface: str | None, placement: str | None, model_id: str | None, algorithm: str,
                    items: Iterable[Mapping[str, Any]], ts: float,
                    context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """An exposure.v1 record for one served list; positions are 1-based in the list's order. `context`
    (flat: nested keys already dotted) is the request's, kept only when there is one."""
    shown = [{"id": str(item["id"]), "position": position, "score": _number("score", item["score"])}
             for position, item in enumerate(items, start=1)]
    if len(shown) > MAX_ITEMS:
        raise ValueError(f"an exposure holds at most {MAX_ITEMS} items")
    return {"schema": EXPOSURE_SCHEMA, "request_id": str(request_id), "tenant_id": str(tenant_id),
            "user_key": _pseudonym("user_key", user_key),
            "session_key": _pseudonym("session_key", session_key, nullable=True),
            "surface": surface, "placement": placement, "model_id": model_id, "algorithm": str(algorithm),
            "ts": _number("ts", ts), "items": shown, **({"context": dict(context)} if context else {})}


def outcome_record(*, request_id: str, tenant_id: str, user_key: str, item_id: str, type: str,
                   value: float | None, ts: float, event_id: str) -> dict[str, Any]:
    """An outcome.v1 record: one interaction sent with the request_id of a served list."""
    if type not in OUTCOME_TYPES:
        raise ValueError(f"type must be one of {', '.join(OUTCOME_TYPES)}")
    return {"schema": OUTCOME_SCHEMA, "request_id": str(request_id), "tenant_id": str(tenant_id),
            "user_key": _pseudonym("user_key", user_key), "item_id": str(item_id), "type": type,
            "value": None if value is None else _number("value", value), "ts": _number("ts", ts),
            "event_id": str(event_id)}


def assignment_record(*, tenant_id: str, experiment_id: str, variant: str, user_key: str, request_id: str | None,
                      ts: float) -> dict[str, Any]:
    """An assignment.v1 record: a customer bucketed into an experiment's variant, with the request id
    of the list it was served for (joins the exposure and its outcomes), when there is one."""
    return {"schema": ASSIGNMENT_SCHEMA, "tenant_id": str(tenant_id), "experiment_id": str(experiment_id),
            "variant": str(variant), "user_key": _pseudonym("user_key", user_key),
            "request_id": None if request_id is None else str(request_id), "ts": _number("ts", ts)}


def to_jsonl(record: Mapping[str, Any]) -> str:
    """One compact JSONL line; allow_nan=False so a bad number fails here, not in the analyst's reader."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
