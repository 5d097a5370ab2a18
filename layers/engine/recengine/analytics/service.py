"""The portal's analytics (RecommendAI's /api/analytics/*): a tenant's totals and a daily series,
read from the day counters the traffic keeps (counters.py), the plan counters billing keeps and the
model registry. Nothing is scanned, estimated or invented: a value without a source is None.

- `accuracy` of a day: the offline NDCG@10 (`metrics["ndcg@10"]`, measured on the tenant's holdout
  when the version was trained) of the model version that was live at the end of that UTC day, by
  the registry's `live_at`; None when no version with that metric was live then.
- `avgAccuracy`: the mean NDCG@10 of the active models (servable versions: live or candidate, with
  their artefact), None when none has one."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, time as day_time, timedelta, timezone
from typing import Callable

from ..concurrency import gather
from .counters import DailyCounterStore, DayCounts, day_of

PERIODS = {"7d": 7, "30d": 30, "90d": 90}
ACCURACY_METRIC = "ndcg@10"
ACTIVE_STATUSES = ("live", "candidate")


@dataclass(frozen=True)
class AnalyticsDeps:
    counters: DailyCounterStore
    totals: Callable[[str], dict[str, int]]  # tenant -> {"items", "users"}: billing's plan counters
    versions: Callable[[str], list[dict]]  # tenant -> its model versions (the registry)


@dataclass(frozen=True)
class Stats:
    total_users: int
    total_items: int
    total_recommendations: int
    total_interactions: int
    active_models: int
    daily_active_users: int
    avg_accuracy: float | None


@dataclass(frozen=True)
class DayPoint:
    date: str
    total_recommendations: int
    active_users: int
    accuracy: float | None


def period_days(period: str, today: date) -> list[date]:
    """The period's UTC days, oldest first, ending today (7d: today and the six days before)."""
    n = PERIODS[period]
    return [today - timedelta(days=n - 1 - i) for i in range(n)]


def _metric(version: dict) -> float | None:
    value = (version.get("metrics") or {}).get(ACCURACY_METRIC)
    return None if value is None else float(value)


def live_at_end_of(versions: list[dict], day: date) -> dict | None:
    """The version live at the end of `day`: the latest made live (`live_at`) by then. A version made
    live again later (a rollback) shows from then on only: earlier days before any other promotion
    then have no known live version (None), never a guessed one."""
    end = datetime.combine(day + timedelta(days=1), day_time.min, tzinfo=timezone.utc).timestamp()
    made_live = [v for v in versions if v.get("live_at") is not None and float(v["live_at"]) < end]
    return max(made_live, key=lambda v: float(v["live_at"])) if made_live else None


def accuracy_on(versions: list[dict], day: date) -> float | None:
    version = live_at_end_of(versions, day)
    return None if version is None else _metric(version)


def active_models(versions: list[dict]) -> list[dict]:
    return [v for v in versions if v.get("status") in ACTIVE_STATUSES and not v.get("artefact_deleted")]


def stats(deps: AnalyticsDeps, tenant_id: str, now: float | None = None) -> Stats:
    """The tenant's totals: every day counter ever summed (one Query per shard, O(days) rows), the plan
    counters, today's active users, the active models and their mean NDCG@10 (reads together)."""
    today = day_of(time.time() if now is None else now)
    days, totals, versions = gather(lambda: deps.counters.days(tenant_id), lambda: deps.totals(tenant_id),
                                    lambda: deps.versions(tenant_id))
    active = active_models(versions)
    scored = [m for m in map(_metric, active) if m is not None]
    return Stats(total_users=int(totals.get("users", 0)), total_items=int(totals.get("items", 0)),
                 total_recommendations=sum(d.recommendations for d in days.values()),
                 total_interactions=sum(d.interactions for d in days.values()),
                 active_models=len(active),
                 daily_active_users=days.get(today, DayCounts(today)).active_users,
                 avg_accuracy=round(sum(scored) / len(scored), 6) if scored else None)


def series(deps: AnalyticsDeps, tenant_id: str, period: str, now: float | None = None) -> list[DayPoint]:
    """One point per UTC day of the period (days without traffic count 0), oldest first."""
    days_wanted = period_days(period, date.fromisoformat(day_of(time.time() if now is None else now)))
    first, last = days_wanted[0].isoformat(), days_wanted[-1].isoformat()
    days, versions = gather(lambda: deps.counters.days(tenant_id, first, last), lambda: deps.versions(tenant_id))
    points = []
    for day in days_wanted:
        counts = days.get(day.isoformat(), DayCounts(day.isoformat()))
        points.append(DayPoint(day.isoformat(), counts.recommendations, counts.active_users,
                               accuracy_on(versions, day)))
    return points
