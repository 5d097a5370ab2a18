"""Analytics in RecommendAI's wire format (camelCase)."""

from __future__ import annotations

from .service import DayPoint, Stats


def stats_body(s: Stats) -> dict:
    return {"totalUsers": s.total_users, "totalItems": s.total_items, "totalRecommendations": s.total_recommendations,
            "totalInteractions": s.total_interactions, "activeModels": s.active_models,
            "dailyActiveUsers": s.daily_active_users, "avgAccuracy": s.avg_accuracy}


def series_body(points: list[DayPoint]) -> list[dict]:
    return [{"date": p.date, "totalRecommendations": p.total_recommendations, "activeUsers": p.active_users,
             "accuracy": p.accuracy} for p in points]
