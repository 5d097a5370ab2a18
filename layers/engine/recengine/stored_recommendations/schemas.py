"""The stored recommendations' request models (RecommendAI's wire names: camelCase, `page` /
`pageSize`) and who the portal caller is (its role and e-mail, from the authorizer's context)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import unquote

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ..http.app import Api
from ..http.schemas import Algorithm, Id, Strict
from ..ranking.query import MAX_LIMIT
from ..tenancy.roles import Role, parse_role

# A page reads at most this many records' lists and catalogue items (one BatchGetItem each).
MAX_PAGE_SIZE = 100
Segment = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class RecommendationsQuery(BaseModel):
    """`GET /api/recommendations`: a page, optionally one user's or one algorithm's records."""

    model_config = ConfigDict(extra="forbid")

    page: int = Field(default=1, ge=1, le=10_000)
    pageSize: int = Field(default=20, ge=1, le=MAX_PAGE_SIZE)
    userId: Id | None = None
    algorithm: Algorithm | None = None


class MyRecommendationsQuery(BaseModel):
    """`GET /api/recommendations/my`: the caller's own records, a page at a time."""

    model_config = ConfigDict(extra="forbid")

    page: int = Field(default=1, ge=1, le=10_000)
    pageSize: int = Field(default=20, ge=1, le=MAX_PAGE_SIZE)
    algorithm: Algorithm | None = None


class GenerateBody(Strict):
    """`POST /api/recommendations/generate`: `userSegment` is `all` (every user with events), `active`
    (those the portal has not marked inactive) or a segment tag on end users (`segments` on a user)."""

    algorithm: Algorithm = "hybrid"
    userSegment: Segment = "all"
    count: int = Field(default=10, ge=1, le=MAX_LIMIT)


def path_rec_id(raw: str) -> str:
    """The `{rec_id}` path parameter, percent-decoded; a value that is no id is a 404 where it is read."""
    return unquote(raw)


@dataclass(frozen=True)
class PortalViewer:
    """Who asks: an admin sees the tenant's records; anyone else only their linked end user's."""

    is_admin: bool
    email: str


def viewer(app: Api) -> PortalViewer:
    context = app.current_event.request_context.authorizer
    return PortalViewer(parse_role(context.get("role")) is Role.ADMIN, str(context.get("email") or ""))
