"""Model registry and job views: the documented shape of what the models and batch routes answer."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ModelView(BaseModel):
    """One model version as `GET /v1/models` shows it."""

    model_config = ConfigDict(extra="ignore")

    model_id: str
    algorithm: str | None = None
    version: int | None = None
    status: Literal["training", "candidate", "live", "retired", "failed"]
    live: bool = False
    created_at: float | None = None
    finished_at: float | None = None
    live_at: float | None = None
    retired_at: float | None = None
    metrics: dict[str, float | int | None] = Field(default_factory=dict)
    artefact: str | None = None
    artefact_deleted: bool = False
    promotion_reason: str | None = None
    replaced_model_id: str | None = None
    interactions: int | None = None
    error: str | None = None


class JobView(BaseModel):
    """A training job (`GET /v1/models/jobs/{job_id}`) or batch job (`GET /v1/recommendations/jobs/{job_id}`)."""

    model_config = ConfigDict(extra="ignore")

    job_id: str
    kind: Literal["train", "batch"]
    status: Literal["queued", "running", "succeeded", "skipped", "failed"]
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    result_model_id: str | None = None
    model_status: str | None = None
    detail: str | None = None
    error: str | None = None
    # batch generation
    algorithm: str | None = None
    count: int | None = None
    total_users: int | None = None
    chunks: int | None = None
    chunks_done: int | None = None
    progress: float | None = None
    output: str | None = None


class ModelList(BaseModel):
    """Every model version of the tenant, newest first."""

    live_model_id: str | None
    models: list[ModelView]


class JobAccepted(JobView):
    """A job that runs on: poll `status_url` (also in the Location header)."""

    status_url: str


def model_body(row: dict, live_id: str | None) -> dict:
    """A version row as the API shows it: internal fields dropped, the `live` flag added."""
    out = {k: row[k] for k in ModelView.model_fields if k in row and k != "live"}
    out["live"] = row["model_id"] == live_id
    return ModelView.model_validate(out).model_dump(exclude_none=True)


def job_body(job: dict) -> dict:
    return JobView.model_validate(job).model_dump(exclude_none=True)
