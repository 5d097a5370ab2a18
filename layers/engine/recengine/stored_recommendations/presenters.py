"""RecommendAI's wire format of stored recommendations (camelCase, ISO-8601 times)."""

from __future__ import annotations

from ..billing.periods import iso
from .service import GenerationStarted, RecommendationPage, StoredRecommendation

# The batch job's status as RecommendAI names it: a job that has not finished is "processing".
GENERATION_STATUS = {"queued": "processing", "running": "processing", "succeeded": "completed", "failed": "failed"}


def recommendation_body(rec: StoredRecommendation) -> dict:
    return {"id": rec.id, "userId": rec.user_id, "itemId": rec.item_id, "score": rec.score, "reason": rec.reason,
            "algorithm": rec.algorithm, "createdAt": iso(rec.created_at), "metadata": rec.metadata}


def page_body(page: RecommendationPage) -> dict:
    return {"data": [recommendation_body(r) for r in page.records], "total": page.total, "page": page.page,
            "pageSize": page.page_size}


def generation_body(started: GenerationStarted) -> dict:
    return {"jobId": started.job_id, "status": GENERATION_STATUS.get(started.status, "processing"),
            "estimatedCompletionMs": started.estimated_completion_ms, "users": started.users}
