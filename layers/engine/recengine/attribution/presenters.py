"""The wire format of the Respond API's answer (seed 001's camelCase)."""

from __future__ import annotations

from datetime import datetime, timezone

from .service import Response


def respond_answer(response: Response) -> tuple[int, dict]:
    """(status, body): 201 for a new outcome, 200 for a repeat (see responses.RecordedOutcome)."""
    record = response.record
    stamp = datetime.fromtimestamp(record["ts"], timezone.utc).isoformat().replace("+00:00", "Z")
    return (201 if response.created else 200), {
        "success": True, "interactionId": record["request_id"], "offerId": record["item_id"],
        "outcome": record["type"], "duplicate": not response.created, "timestamp": stamp}
