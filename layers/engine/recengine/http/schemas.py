"""Wire primitives every domain's request models share (id formats, limits, a strict base, bounded
free-form JSON) and the response models that are not a domain's own: warnings, problems, health."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints
from pydantic.types import FiniteFloat

from .values import (MAX_DEPTH, MAX_INT_DIGITS, MAX_KEY_CHARS, MAX_MAGNITUDE, MIN_MAGNITUDE, bounded_json,
                     context_values, flatten_context, json_size, storable_number)

MAX_BATCH = 500
MAX_CANDIDATES = 1000
MAX_CONTEXT_KEYS = 32
MAX_CONTEXT_STRING = 256

Id = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$")]
ShortId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]
SlotName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")]
FieldName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
# An offer's creative (catalogue items' creatives, recommend's excludeCreatives).
CreativeId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]
_NUMBER_NOTE = (f"finite, an integer of at most {MAX_INT_DIGITS} digits or a magnitude between {MIN_MAGNITUDE:g} "
                f"and {MAX_MAGNITUDE:g} (what DynamoDB stores)")
# A number the tables can store: NaN, Infinity and numbers outside DynamoDB's range are refused (422).
Number = Annotated[int | float, AfterValidator(storable_number), Field(description=f"A number: {_NUMBER_NOTE}.")]
Scalar = str | int | FiniteFloat | bool
# One value of a context (recommend and interactions alike): a short string, a storable number, a flag.
# The bounds are checked on the whole object (one error naming the key, not one per union member).
ContextValue = Annotated[str, Field(json_schema_extra={"maxLength": MAX_CONTEXT_STRING})] | int | float | bool | None
Context = Annotated[dict[FieldName, ContextValue], AfterValidator(context_values(MAX_CONTEXT_STRING)), Field(
    max_length=MAX_CONTEXT_KEYS, description=f"At most {MAX_CONTEXT_KEYS} keys (letters, digits, `_.:-`, up to 64); "
    f"values are strings of up to {MAX_CONTEXT_STRING} characters, numbers ({_NUMBER_NOTE}), booleans or null.")]

MAX_CONTEXT_DEPTH = 4
MAX_NESTED_CONTEXT_KEYS = 64
MAX_NESTED_CONTEXT_BYTES = 4096
# A context that may nest objects (recommend's and the interactions'): flattened to dotted keys
# (`{"location": {"city": "Paris"}}` is `location.city`), then held to the flat context's bounds.
NestedContext = Annotated[Context, BeforeValidator(flatten_context(MAX_CONTEXT_DEPTH, MAX_NESTED_CONTEXT_KEYS,
                                                                   MAX_NESTED_CONTEXT_BYTES)), Field(
    description=f"Flat (the bounds of a flat context: at most {MAX_CONTEXT_KEYS} keys of letters, digits, `_.:-`; "
    f"strings of up to {MAX_CONTEXT_STRING} characters, numbers, booleans or null), or nesting objects at most "
    f"{MAX_CONTEXT_DEPTH} deep, {MAX_NESTED_CONTEXT_KEYS} keys in all and {MAX_NESTED_CONTEXT_BYTES} bytes as JSON: "
    "nested keys are flattened with dots (`location.city`), and kept so with the interaction and the exposure.",
    json_schema_extra=lambda schema: _nesting(schema))]


def _nesting(schema: dict) -> None:
    """The document of a nested context: a value may also be an object of the same keys and values,
    MAX_CONTEXT_DEPTH levels in all. The bounds across levels (keys in all, the dotted names' length,
    the size) are in the description: no JSON Schema keyword states them."""
    for pattern, value in schema.get("patternProperties", {}).items():
        scalars, level = value.get("anyOf", []), None
        for _ in range(MAX_CONTEXT_DEPTH - 1):
            options = [dict(s) for s in scalars] + ([level] if level else [])
            level = {"type": "object", "maxProperties": MAX_CONTEXT_KEYS, "patternProperties": {pattern: {"anyOf": options}},
                     "propertyNames": dict(schema.get("propertyNames", {}))}
        value["anyOf"] = [*scalars, level]


def free_json(max_bytes: int, what: str) -> Any:
    """A free-form JSON object (item metadata, request attributes) bounded so that DynamoDB can store
    it: keys non-empty and at most MAX_KEY_CHARS, nesting at most MAX_DEPTH, storable numbers, valid
    text, at most `max_bytes` as JSON. A violation is a 422 naming the path inside the object."""
    return Annotated[dict[str, Any], AfterValidator(bounded_json(max_bytes)), Field(
        json_schema_extra={"propertyNames": {"minLength": 1, "maxLength": MAX_KEY_CHARS}},
        description=f"{what}: a JSON object of at most {max_bytes} bytes, nested at most {MAX_DEPTH} deep; keys of "
                    f"1 to {MAX_KEY_CHARS} characters; numbers {_NUMBER_NOTE}.")]
ModelId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^model_[A-Za-z0-9._-]+$")]
# "deep-learning" (RecommendAI's name) is served by the strongest model there is (ranking.query).
Algorithm = Literal["hybrid", "collaborative", "content-based", "popular", "trending", "deep-learning"]


class Strict(BaseModel):
    """A request model that refuses unknown fields."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


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
    traceId: str | None = Field(default=None, description="The request's X-Ray trace id (its `Root`), else the request "
                                "id: what RecommendAI clients read to correlate an error with the service's traces.")
    errors: list["FieldError"] | None = Field(default=None, description="With 422: one entry per invalid field.")
    job_id: str | None = Field(default=None, description="With 409 `/problems/job-in-progress`: the job of that kind "
                               "the tenant already has queued or running.")
    job_status: str | None = Field(default=None, description="With 409 `/problems/job-in-progress`: its status.")
    status_url: str | None = Field(default=None, description="With 409 `/problems/job-in-progress`: where to poll it.")
    daily_limit: int | None = Field(default=None, description="With 429 `/problems/job-quota-exceeded`: the plan's "
                                    "number of such jobs a day.")
    rejected: list["Rejected"] | None = Field(default=None, description="With a batch's 422, 409 or 503: each entry "
                                              "refused, by index, with its errors (nothing of it was stored).")
    not_stored: list["NotStored"] | None = Field(default=None, description="With a batch's 503: each valid entry "
                                                 "that could not be stored (retry it; nothing else of it was counted).")
    stored_ids: list[str] | None = Field(default=None, description="With a batch's 503: the ids this call did store "
                                         "(a retry of them is a duplicate, or an update of the same item).")


class FieldError(Closed):
    field: str = Field(description="Dotted path of the field, or `(body)`.")
    message: str
    code: str = Field(description="pydantic's error type, e.g. `missing`, `string_too_long`.")


class Rejected(Closed):
    """A batch entry that was refused: nothing of it was stored or counted."""

    index: int = Field(description="Its position in the request's list (0-based).")
    errors: list[FieldError] = Field(description="Why: fields are `<list>.<index>.<field>`; `code` is pydantic's "
                                     "error type, `duplicate_in_batch` (an id repeated within the batch) or "
                                     "`conflict` (an event id already used for a different event).")


class NotStored(Closed):
    """A valid batch entry that the store could not write after its retries (a 503): send it again."""

    index: int = Field(description="Its position in the request's list (0-based).")
    id: str = Field(description="The item id, or the event id (generated ones included).")


Problem.model_rebuild()
