"""Response models (pydantic v2): the documented shape of the bodies the handlers answer with.

The handlers build their bodies as plain dicts; these models are the contract those dicts keep.
scripts/openapi.py publishes them in docs/openapi.json and tests/unit/test_openapi.py validates real
bodies against them, so a change to a handler's answer that breaks clients fails a test.
Every model forbids extra fields so an undocumented field is caught, not silently published."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .schemas import JobView, ModelView


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Health(_Closed):
    """Liveness only: the function answers, whatever the state of the tables."""

    status: Literal["ok"]
    version: str


class ApiWarning(_Closed):
    """Something the caller should know, though the request was answered (e.g. `no_model`, `limit_clipped`)."""

    code: str = Field(description="Stable, machine-readable code.")
    message: str = Field(description="Human-readable explanation.")


class RecommendedItem(_Closed):
    """One recommended item, best first."""

    id: str
    score: float
    reason: str = Field(description="A short, human-readable reason (e.g. `popular right now`).")


class RecommendMeta(_Closed):
    """Which model and path served the list; `request_id` ties the list to its exposure log and to later clicks."""

    request_id: str
    model_id: str | None = Field(description="The model that ranked the list; null when none is trained yet.")
    algorithm: str = Field(description="The serving path (e.g. `hybrid`, `popular`), or the batch's algorithm.")
    surface: str | None = Field(description="Where the list is shown (`surface`, else `placement`, else `channel`).")
    source: Literal["model", "batch"] = Field(description="`batch`: the list precomputed by a generate job.")
    anonymous_id: str | None = Field(default=None, description="Only without a user id: the pseudonymous id "
                                     "(from the session, else the client) the list was recorded under.")


class RecommendResponse(_Closed):
    """One list (the request named no `placements`)."""

    rec_id: str = Field(description="The request id; send it back with interactions to attribute them.")
    items: list[RecommendedItem]
    meta: RecommendMeta
    warnings: list[ApiWarning]
    debug: dict[str, Any] | None = Field(default=None, description="Only with `debug: true`: rules, context, "
                                         "frequency cap, per-item contributions and why items were filtered.")


class PlacementList(_Closed):
    """The list for one placement of a grouped request."""

    placement_id: str
    items: list[RecommendedItem]


class GroupedRecommendResponse(_Closed):
    """One list per placement (the request named `placements`), deduplicated across them on request."""

    rec_id: str = Field(description="The request id; send it back with interactions to attribute them.")
    placements: list[PlacementList]
    meta: RecommendMeta
    warnings: list[ApiWarning]
    debug: dict[str, Any] | None = Field(default=None, description="Only with `debug: true`; per placement.")


class ValidateMeta(_Closed):
    request_id: str
    anonymous_id: str | None = Field(description="The pseudonymous id recommend would use, if any.")


class ValidateResponse(_Closed):
    """What recommend would make of the request, without ranking or metering it."""

    valid: bool
    request: dict[str, Any] = Field(description="The request in canonical field names, aliases resolved, "
                                    "with the effective `limit`.")
    warnings: list[ApiWarning]
    meta: ValidateMeta


class SimilarItem(_Closed):
    id: str
    score: float


class SimilarResponse(_Closed):
    """Items like `item_id`; popular items (with a warning) when the item has no interactions in the model."""

    rec_id: str
    item_id: str
    items: list[SimilarItem]
    warnings: list[ApiWarning]
    model_id: str | None = Field(description="Null when no model is trained yet (and `items` is empty).")


class ModelList(BaseModel):
    """Every model version of the tenant, newest first."""

    live_model_id: str | None
    models: list[ModelView]


class JobAccepted(JobView):
    """A job that runs on: poll `status_url` (also in the Location header)."""

    status_url: str


class Problem(_Closed):
    """RFC 9457 problem details: every error, from the functions and from API Gateway itself."""

    type: str = Field(description="A stable relative URI, `/problems/<slug>`.", examples=["/problems/validation-error"])
    title: str
    status: int
    detail: str
    instance: str | None = Field(default=None, description="The request path.")
    request_id: str | None = Field(default=None, description="The X-Request-Id answered; quote it in support "
                                   "requests. Absent on API Gateway's own errors (401, 403, 429).")
    errors: list["FieldError"] | None = Field(default=None, description="With 422: one entry per invalid field.")


class FieldError(_Closed):
    field: str = Field(description="Dotted path of the field, or `(body)`.")
    message: str
    code: str = Field(description="pydantic's error type, e.g. `missing`, `string_too_long`.")


Problem.model_rebuild()
