"""Interaction response models: the documented shape of POST /v1/interactions' answer (published in
docs/openapi.json; the presenters' dicts keep it)."""

from __future__ import annotations

from pydantic import Field

from ..http.schemas import Closed, Rejected


class InteractionsResponse(Closed):
    """201 when at least one event was new, 200 when every event was a duplicate; 207 when some entries
    were rejected (the others were recorded). No valid entry: 422 (409 when every one was a conflict);
    events the store could not write: 503 naming them in `not_stored`."""

    accepted: int = Field(description="Events new to the history.")
    duplicates: int = Field(description="Events already recorded under the same `event_id` with the same body.")
    event_ids: list[str] = Field(description="The ids of the events now in the history (new and duplicate), in "
                                 "request order; generated where none was sent.")
    accepted_event_ids: list[str] = Field(description="The ids of the events new to the history (`accepted` of "
                                          "them): what this call stored.")
    duplicate_event_ids: list[str] = Field(description="The ids of the duplicates (an id repeated within the batch "
                                           "is both accepted, once, and a duplicate).")
    rejected: list[Rejected] | None = Field(default=None, description="Only when some entries were refused, by "
                                            "index: invalid (pydantic codes) or `conflict` (the event id was used "
                                            "for another event: other user, item, type, value, time or context).")


class RecordedInteraction(Closed):
    """/api/v1/interactions with one bare event, in the RecommendAI dialect."""

    success: bool
    interactionId: str = Field(description="The event id (generated when none was sent).")
    timestamp: str = Field(description="When the interaction happened (ISO 8601, UTC).")
