"""The portal's request models (RecommendAI's wire names: camelCase, `page` / `pageSize`)."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import unquote

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from ..http.app import validate
from ..http.schemas import Id, Strict
from .users import EndUserDraft

# An ASCII address, as the user pool takes a username (its own check refuses other forms).
Email = Annotated[str, StringConstraints(min_length=6, max_length=254, strip_whitespace=True, to_lower=True,
                                         pattern=r"^[A-Za-z0-9]([A-Za-z0-9._%+-]*[A-Za-z0-9])?@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")]
Password = Annotated[str, StringConstraints(min_length=8, max_length=256)]
RESERVED_SEGMENTS = ("all", "active")  # the generate route's own segments: a tag so named could not be chosen


def _not_reserved(tag: str) -> str:
    if tag in RESERVED_SEGMENTS:
        raise ValueError(f"{tag!r} is a built-in segment of POST /api/recommendations/generate, not a tag")
    return tag


# A segment tag on an end user: `POST /api/recommendations/generate` can name it as its userSegment.
SegmentTag = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$"),
                       AfterValidator(_not_reserved)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]


class RegisterBody(Strict):
    email: Email
    name: Name
    password: Password
    # Only an admin adding someone to their tenant may choose; a sign-up's first account is its admin.
    role: Literal["admin", "user"] = "user"


class LoginBody(Strict):
    email: Email
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class TokenBody(Strict):
    """GoTrue's token body: `email` and `password` for `grant_type=password`, `refresh_token` for
    `grant_type=refresh_token`; a grant without its credentials is a 401, as wrong ones are."""

    email: Email | None = None
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=4096)] | None = None


class TokenQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    grant_type: Literal["password", "refresh_token"]


class EndUserUpdate(Strict):
    """`PUT /api/users/{id}`: every field but the id, replaced (a user is never renamed)."""

    email: Email
    name: Name
    role: Literal["user", "admin"] = "user"
    isActive: bool = True
    segments: list[SegmentTag] = Field(default_factory=list, max_length=20,
                                       description="Segment tags: `POST /api/recommendations/generate` can name one.")

    def draft(self) -> EndUserDraft:
        return EndUserDraft(self.email, self.name, self.role, self.isActive, segments=_tags(self.segments))


class EndUserBody(EndUserUpdate):
    """`POST /api/users`."""

    id: Id | None = Field(default=None, description="The user's id as your events name it; generated if absent.")

    def draft(self) -> EndUserDraft:
        return EndUserDraft(self.email, self.name, self.role, self.isActive, self.id, _tags(self.segments))


def _tags(segments: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(segments))


class UsersQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    page: int = Field(default=1, ge=1, le=10_000)
    pageSize: int = Field(default=20, ge=1, le=100)
    search: Annotated[str, StringConstraints(max_length=200)] | None = None


class EndUserPath(Strict):
    user_id: Id


def path_user_id(raw: str) -> str:
    """The `{user_id}` path parameter, percent-decoded and validated (422 if it is not an id)."""
    return validate(EndUserPath, {"user_id": unquote(raw)}).user_id
