"""Respond API request model: the outcome of an offer shown by a decision (seed 001's field names)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field

from ..http.schemas import Id, ShortId, Strict, aliases
from ..http.values import MIN_MAGNITUDE, storable_number

MAX_VALUE = 1e12  # an outcome's business value (e.g. a purchase amount)
Outcome = Literal["view", "click", "like", "add_to_cart", "purchase"]  # outcome.v1's types


class RespondRequest(Strict):
    """`{interactionId, offerId, outcome}`: `interactionId` is the decision's (recommend's
    `interactionId` / `meta.request_id`), `offerId` one of the offers it showed; `value` optional
    (e.g. a purchase's amount)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    interaction_id: ShortId = Field(validation_alias=aliases("interactionId", "interaction_id", "request_id"))
    offer_id: Id = Field(validation_alias=aliases("offerId", "offer_id", "item_id"))
    outcome: Outcome = Field(validation_alias=aliases("outcome", "type"))
    # 0 or from 1e-130 (DynamoDB stores no smaller magnitude), as an interaction's value
    value: Annotated[float, AfterValidator(storable_number)] | None = Field(
        default=None, ge=0, le=MAX_VALUE, json_schema_extra={"anyOf": [
            {"type": "null"}, {"const": 0}, {"type": "number", "minimum": MIN_MAGNITUDE, "maximum": MAX_VALUE}]})
