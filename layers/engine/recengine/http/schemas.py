"""Wire primitives every domain's request models share (id formats, limits, a strict base) and
the response models that are not a domain's own: warnings, problem details, health."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StringConstraints

MAX_BATCH = 500
MAX_CANDIDATES = 1000
MAX_CONTEXT_KEYS = 32

Id = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$")]
ShortId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]
SlotName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")]
ModelId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^model_[A-Za-z0-9._-]+$")]
Algorithm = Literal["hybrid", "collaborative", "content-based", "popular", "trending"]


class Strict(BaseModel):
    """A request model that refuses unknown fields."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


def json_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, default=str).encode())


def aliases(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Closed(BaseModel):
    """A response model: an undocumented field is caught, not silently published."""

    model_config = ConfigDict(extra="forbid")


class Health(Closed):
    """Liveness only: the function answers, whatever the state of the tables."""

    status: Literal["ok"]
    version: str


class ApiWarning(Closed):
    """Something the caller should know, though the request was answered (e.g. `no_model`, `limit_clipped`)."""

    code: str = Field(description="Stable, machine-readable code.")
    message: str = Field(description="Human-readable explanation.")


class Problem(Closed):
    """RFC 9457 problem details: every error, from the functions and from API Gateway itself."""

    type: str = Field(description="A stable relative URI, `/problems/<slug>`.", examples=["/problems/validation-error"])
    title: str
    status: int
    detail: str
    instance: str | None = Field(default=None, description="The request path.")
    request_id: str | None = Field(default=None, description="The X-Request-Id answered; quote it in support "
                                   "requests. Absent on API Gateway's own errors (401, 403, 429).")
    errors: list["FieldError"] | None = Field(default=None, description="With 422: one entry per invalid field.")
    job_id: str | None = Field(default=None, description="With 409 `/problems/job-in-progress`: the job of that kind "
                               "the tenant already has queued or running.")
    job_status: str | None = Field(default=None, description="With 409 `/problems/job-in-progress`: its status.")
    status_url: str | None = Field(default=None, description="With 409 `/problems/job-in-progress`: where to poll it.")
    daily_limit: int | None = Field(default=None, description="With 429 `/problems/job-quota-exceeded`: the plan's "
                                    "number of such jobs a day.")


class FieldError(Closed):
    field: str = Field(description="Dotted path of the field, or `(body)`.")
    message: str
    code: str = Field(description="pydantic's error type, e.g. `missing`, `string_too_long`.")


Problem.model_rebuild()
