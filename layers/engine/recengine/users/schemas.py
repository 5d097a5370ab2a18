"""User erasure: the path parameter and the documented shape of an erasure job."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..http.schemas import Id, Strict


class ErasureTarget(Strict):
    """The user to erase, as `DELETE /v1/users/{user_id}` names it (the id interactions carried)."""

    user_id: Id


class ErasedCounts(BaseModel):
    """What the erasure deleted (all zero for a user the tenant never had, or erased before)."""

    model_config = ConfigDict(extra="ignore")

    history_rows: int = 0
    event_claims: int = 0
    session_rows: int = 0
    exposures: int = 0
    stored_lists: int = 0
    batch_objects_rewritten: int = 0
    batch_versions_deleted: int = 0
    batch_lines_removed: int = 0
    user_uncounted: bool = Field(default=False, description="The plan's user count went down by one.")


class ErasureJobView(BaseModel):
    """A user erasure job (`GET /v1/users/erasures/{job_id}`). It never shows the user id: once the
    job has succeeded, nothing of the user is left anywhere, the job row included."""

    model_config = ConfigDict(extra="ignore")

    job_id: str
    kind: Literal["erase"]
    status: Literal["queued", "running", "succeeded", "failed"]
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    detail: str | None = None
    error: str | None = None
    erased: ErasedCounts | None = None


class ErasureAccepted(ErasureJobView):
    """An erasure that runs on: poll `status_url` (also in the Location header)."""

    status_url: str


def erasure_body(job: dict) -> dict:
    return ErasureJobView.model_validate(job).model_dump(exclude_none=True)
