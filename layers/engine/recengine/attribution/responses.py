"""Respond API response model: the documented shape of POST /api/v1/respond's answer (published in
docs/openapi.json; the presenter's dict keeps it)."""

from __future__ import annotations

from pydantic import Field

from ..http.schemas import Closed


class RecordedOutcome(Closed):
    """201 when the outcome is new; 200 when the same outcome of the same offer in the same decision was
    already recorded (`duplicate`: nothing counted twice)."""

    success: bool
    interactionId: str = Field(description="The decision the outcome joins.")
    offerId: str
    outcome: str
    duplicate: bool = Field(description="True when this outcome of this offer in this decision was already recorded.")
    timestamp: str = Field(description="When it was recorded (ISO 8601, UTC).")
