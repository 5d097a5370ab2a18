"""Recommend and similar response models: the documented shape of the bodies those routes answer.

The presenters build plain dicts; these models are the contract those dicts keep. scripts/openapi.py
publishes them in docs/openapi.json and the contract tests validate real bodies against them.
Every model forbids extra fields, so an undocumented field is caught, not silently published."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, RootModel

from ..http.schemas import ApiWarning, Closed


class RecommendedItem(Closed):
    """One recommended item, best first."""

    id: str
    score: float
    reason: str = Field(description="A short, human-readable reason (e.g. `popular right now`).")
    creative: dict[str, Any] | None = Field(default=None, description=(
        "For an offer with creatives: the one that fits the request's channel, channel id and placement "
        "(`{id, channel?, channelId?, placement?, ...its content}`, as stored); absent otherwise."))


class ExperimentRef(Closed):
    """The experiment that chose what served the request, and the caller's (stable) variant."""

    id: str
    variant: str


class RecommendMeta(Closed):
    """Which model and path served the list; `request_id` ties the list to its exposure log and to later clicks."""

    request_id: str
    model_id: str | None = Field(description="The model that ranked the list; null when none is trained yet.")
    algorithm: str = Field(description="The serving path (e.g. `hybrid`, `popular`), or the batch's algorithm.")
    surface: str | None = Field(description="Where the list is shown (`surface`, else `placement`, else `channel`).")
    source: Literal["model", "batch"] = Field(description="`batch`: the list precomputed by a generate job.")
    anonymous_id: str | None = Field(default=None, description="Only without a user id: the pseudonymous id "
                                     "(from the session, else the client) the list was recorded under.")
    decision_flow: str | None = Field(default=None, description="The decision flow that served the request "
                                      "(named by `decisionFlowKey`, an experiment or routing).")
    experiment: ExperimentRef | None = None


class RecommendResponse(Closed):
    """One list (the request named no `placements`)."""

    rec_id: str = Field(description="The request id; send it back with interactions to attribute them.")
    items: list[RecommendedItem]
    meta: RecommendMeta
    warnings: list[ApiWarning]
    debug: dict[str, Any] | None = Field(default=None, description="Only with `debug: true`: rules, context, "
                                         "frequency cap, per-item contributions and why items were filtered.")


class PlacementList(Closed):
    """The list for one placement of a grouped request."""

    placement_id: str
    items: list[RecommendedItem]


class GroupedRecommendResponse(Closed):
    """One list per placement (the request named `placements`), deduplicated across them on request."""

    rec_id: str = Field(description="The request id; send it back with interactions to attribute them.")
    placements: list[PlacementList]
    meta: RecommendMeta
    warnings: list[ApiWarning]
    debug: dict[str, Any] | None = Field(default=None, description="Only with `debug: true`; per placement.")


class ValidateMeta(Closed):
    request_id: str
    anonymous_id: str | None = Field(description="The pseudonymous id recommend would use, if any.")


class ValidateResponse(Closed):
    """What recommend would make of the request, without ranking or metering it."""

    valid: bool
    request: dict[str, Any] = Field(description="The request in canonical field names, aliases resolved, "
                                    "with the effective `limit`.")
    warnings: list[ApiWarning]
    meta: ValidateMeta


class SimilarItem(Closed):
    id: str
    score: float


class SimilarResponse(Closed):
    """Items like `item_id`; popular items (with a warning) when the item has no interactions in the model."""

    rec_id: str
    item_id: str
    items: list[SimilarItem]
    warnings: list[ApiWarning]
    model_id: str | None = Field(description="Null when no model is trained yet (and `items` is empty).")











class RecommendAIItem(Closed):
    """One item of the RecommendAI dialect (/api/v1/recommend): best first."""

    itemId: str
    score: float
    algorithm: str = Field(description="The model that ranked it (`deep-learning` is served by the strongest there "
                           "is, `hybrid`, and says so in `explanation`).")
    explanation: str


class RecommendAIList(RootModel[list[RecommendAIItem]]):
    """/api/v1/recommend in the RecommendAI dialect: a bare array (warning codes in `X-Recommendation-Warnings`)."""


class RecommendAISimilar(Closed):
    itemId: str
    score: float


class RecommendAISimilarList(RootModel[list[RecommendAISimilar]]):
    """/api/v1/similar in the RecommendAI dialect: a bare array, most similar first."""


class Decision(Closed):
    """One offer of the offer-decisioning dialect (/api/v1/recommend with a `customerId`), best first."""

    offerId: str
    rank: int
    score: float | None
    reason: str | None
    creativeId: str | None = Field(default=None, description="The creative chosen for this channel and placement.")
    creative: dict[str, Any] | None = Field(default=None, description=(
        "The chosen creative as stored (`{id, channel?, channelId?, placement?, ...its content}`); absent "
        "for an offer without creatives."))


class Decisions(Closed):
    """The decisioning dialect's V1 answer: one flat list."""

    interactionId: str = Field(description="Quote it with the outcomes (`request_id` on /v1/interactions).")
    decisions: list[Decision]
    modelId: str | None
    decisionFlowKey: str | None = Field(default=None, description="The decision flow that served the request.")
    experiment: ExperimentRef | None = None
    warnings: list[ApiWarning]
    debugTrace: dict[str, Any] | None = Field(default=None, description="Only with `debug: true`.")


class PlacementDecisions(Closed):
    placementId: str
    decisions: list[Decision]


class GroupedDecisions(Closed):
    """The decisioning dialect's V2 answer: one list per placement (the request named `placements`)."""

    interactionId: str
    placements: list[PlacementDecisions]
    modelId: str | None
    decisionFlowKey: str | None = Field(default=None, description="The decision flow that served the request.")
    experiment: ExperimentRef | None = None
    warnings: list[ApiWarning]
    debugTrace: dict[str, Any] | None = Field(default=None, description="Only with `debug: true`; per placement.")
