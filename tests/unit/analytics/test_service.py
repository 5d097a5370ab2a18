"""Analytics maths without AWS: the period's days, which model was live on a day (accuracy), the
active models and their mean NDCG@10, and what one metered call adds to its day."""

from __future__ import annotations

import calendar
from datetime import date

import pytest

from recengine.analytics import presenters
from recengine.analytics.counters import DayCounts, Tally, day_of, tally_items
from recengine.analytics.responses import AnalyticsSeries, AnalyticsStats
from recengine.analytics.schemas import AnalyticsQuery
from recengine.analytics.service import (AnalyticsDeps, accuracy_on, active_models, period_days, series, stats)


def ts(y: int, m: int, d: int, h: int = 12) -> float:
    return float(calendar.timegm((y, m, d, h, 0, 0)))


def version(model_id: str, status: str, ndcg: float | None, live_at: float | None = None, **extra) -> dict:
    metrics = {} if ndcg is None else {"ndcg@10": ndcg, "recall@20": 0.5}
    return {"model_id": model_id, "status": status, "metrics": metrics, "live_at": live_at, **extra}


class FakeCounters:
    """DailyCounterStore.days over a dict, recording the bounds it was asked for."""

    def __init__(self, days: dict[str, DayCounts]):
        self.rows, self.asked = days, []

    def days(self, tenant_id, first=None, last=None):
        self.asked.append((tenant_id, first, last))
        return {d: c for d, c in self.rows.items() if (first is None or d >= first) and (last is None or d <= last)}


@pytest.mark.parametrize("period,n", [("7d", 7), ("30d", 30), ("90d", 90)])
def test_a_period_is_its_number_of_utc_days_ending_today_oldest_first(period, n):
    days = period_days(period, date(2026, 3, 2))
    assert len(days) == n and days[-1] == date(2026, 3, 2)
    assert all((b - a).days == 1 for a, b in zip(days, days[1:]))
    assert period_days("7d", date(2026, 3, 2))[0] == date(2026, 2, 24)  # across a month end


@pytest.mark.parametrize("bad", ["1d", "7", "365d", "", "7D"])
def test_any_other_period_is_refused_by_the_query_model(bad):
    with pytest.raises(ValueError):
        AnalyticsQuery.model_validate({"period": bad})


def test_the_period_defaults_to_seven_days():
    assert AnalyticsQuery.model_validate({}).period == "7d"


def test_a_days_accuracy_is_the_ndcg_of_the_version_live_at_the_end_of_that_day():
    versions = [version("m1", "retired", 0.21, live_at=ts(2026, 3, 1)),
                version("m2", "live", 0.34, live_at=ts(2026, 3, 3, 23))]
    assert accuracy_on(versions, date(2026, 2, 28)) is None  # nothing was live yet: no value, not a guess
    assert accuracy_on(versions, date(2026, 3, 1)) == 0.21
    assert accuracy_on(versions, date(2026, 3, 2)) == 0.21
    assert accuracy_on(versions, date(2026, 3, 3)) == 0.34  # promoted at 23:00: live at the day's end
    assert accuracy_on(versions, date(2026, 3, 9)) == 0.34


def test_a_live_version_without_the_metric_gives_no_accuracy():
    assert accuracy_on([version("m1", "live", None, live_at=ts(2026, 3, 1))], date(2026, 3, 2)) is None


def test_active_models_are_the_servable_versions_with_their_artefact():
    versions = [version("m1", "retired", 0.2), version("m2", "live", 0.3), version("m3", "candidate", 0.4),
                version("m4", "candidate", 0.5, artefact_deleted=True), version("m5", "failed", None),
                version("m6", "training", None)]
    assert [v["model_id"] for v in active_models(versions)] == ["m2", "m3"]


def test_stats_sum_every_day_and_take_todays_active_users_and_the_active_models_mean_ndcg():
    counters = FakeCounters({"2026-03-01": DayCounts("2026-03-01", 10, 40, 3),
                             "2026-03-02": DayCounts("2026-03-02", 5, 7, 2)})
    versions = [version("m1", "retired", 0.1), version("m2", "live", 0.3), version("m3", "candidate", 0.4)]
    deps = AnalyticsDeps(counters, lambda t: {"items": 12, "users": 9}, lambda t: versions)
    out = stats(deps, "acme", now=ts(2026, 3, 2))
    assert out.total_recommendations == 15 and out.total_interactions == 47
    assert (out.total_users, out.total_items, out.active_models, out.daily_active_users) == (9, 12, 2, 2)
    assert out.avg_accuracy == pytest.approx(0.35)
    assert counters.asked == [("acme", None, None)]
    body = presenters.stats_body(out)
    assert AnalyticsStats.model_validate(body).model_dump() == body


def test_stats_of_a_tenant_without_traffic_or_models_are_zeros_and_no_accuracy():
    deps = AnalyticsDeps(FakeCounters({}), lambda t: {"items": 0, "users": 0}, lambda t: [])
    body = presenters.stats_body(stats(deps, "new", now=ts(2026, 3, 2)))
    assert body == {"totalUsers": 0, "totalItems": 0, "totalRecommendations": 0, "totalInteractions": 0,
                    "activeModels": 0, "dailyActiveUsers": 0, "avgAccuracy": None}


def test_the_series_has_one_point_per_day_with_zeros_on_quiet_days():
    counters = FakeCounters({"2026-02-28": DayCounts("2026-02-28", 99, 0, 9),  # before the period: not read
                             "2026-03-02": DayCounts("2026-03-02", 4, 8, 2)})
    deps = AnalyticsDeps(counters, lambda t: {}, lambda t: [version("m1", "live", 0.25, live_at=ts(2026, 3, 4))])
    points = series(deps, "acme", "7d", now=ts(2026, 3, 7))
    assert [p.date for p in points] == [f"2026-03-0{d}" for d in range(1, 8)]
    assert counters.asked == [("acme", "2026-03-01", "2026-03-07")]
    assert [(p.total_recommendations, p.active_users) for p in points][:3] == [(0, 0), (4, 2), (0, 0)]
    assert [p.accuracy for p in points] == [None, None, None, 0.25, 0.25, 0.25, 0.25]
    body = presenters.series_body(points)
    assert set(body[0]) == {"date", "totalRecommendations", "activeUsers", "accuracy"}
    assert AnalyticsSeries.model_validate(body).model_dump() == body


def test_a_tally_is_an_unconditional_add_to_the_days_shard_row_and_its_exact_take_back():
    added, undo = tally_items("usage", "acme", 7, ts(2026, 3, 2, 23), Tally("interactions", 5))
    (add,), (back,) = added, undo
    assert add["Update"]["Key"] == {"tenant_id": {"S": "acme#daily#07"}, "period": {"S": "2026-03-02"}}
    assert add["Update"]["UpdateExpression"] == "ADD #c :n" and "ConditionExpression" not in add["Update"]
    assert add["Update"]["ExpressionAttributeNames"] == {"#c": "interactions"}
    assert add["Update"]["ExpressionAttributeValues"] == {":n": {"N": "5"}}
    assert back["Update"]["Key"] == add["Update"]["Key"] and back["Update"]["ExpressionAttributeValues"] == {
        ":n": {"N": "-5"}}


def test_days_are_utc_dates():
    assert day_of(ts(2026, 3, 2, 23)) == "2026-03-02" and day_of(ts(2026, 3, 3, 0)) == "2026-03-03"
