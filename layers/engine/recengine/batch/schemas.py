"""Batch generation request model."""

from __future__ import annotations

from pydantic import Field

from ..http.schemas import Algorithm, Id, Strict
from ..ranking.query import MAX_LIMIT

MAX_SEGMENT_USERS = 10_000


class GenerateRequest(Strict):
    """A batch generation: `user_ids` (a segment) or, when absent, every user with events."""

    algorithm: Algorithm = "hybrid"
    count: int = Field(default=10, ge=1, le=MAX_LIMIT)
    user_ids: list[Id] | None = Field(default=None, min_length=1, max_length=MAX_SEGMENT_USERS)
