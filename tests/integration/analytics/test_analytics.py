"""The portal's analytics through the local gateway (the REQUEST authorizer verifies moto's Cognito
tokens) on in-process moto: traffic sent with API keys is counted as it happens, and the stats and
daily series read those counters, the plan counters and the model registry."""

from __future__ import annotations

import json
import time

import pytest

from local.demo import generate
from local.provision import create_key, create_portal_admin
from recengine.analytics.counters import DailyCounterStore, DayCounts, day_of
from recengine.models.training import train_tenant
from recengine.tenancy.roles import Role
from tests.integration.portal.test_portal import gw, login, sign_up  # noqa: F401 - gw is a fixture

ZERO_STATS = {"totalUsers": 0, "totalItems": 0, "totalRecommendations": 0, "totalInteractions": 0,
              "activeModels": 0, "dailyActiveUsers": 0, "avgAccuracy": None}


@pytest.fixture
def shop(gw, aws):
    """A tenant with a write key and a portal admin's token."""
    caller = aws.tenant("analytics")
    password = create_portal_admin(caller.tenant_id, "ops@analytics.example")
    write, _ = create_key(aws.env["TENANTS_TABLE"], caller.tenant_id, Role.WRITE, aws.plan_ids)
    return {"tenant_id": caller.tenant_id, "token": login(gw, "ops@analytics.example", password), "key": write}


def send(gw, shop, method, path, body):
    return gw(method, path, body, headers={"x-api-key": shop["key"]})


def events(user_ids, start=0):
    return [{"user_id": u, "item_id": f"item-{i % 3}", "type": "click", "event_id": f"e-{start + i}"}
            for i, u in enumerate(user_ids)]


def test_a_new_tenants_stats_are_zeros_and_its_series_seven_empty_days(gw, shop):
    status, headers, body = gw("GET", "/api/analytics/stats", token=shop["token"])
    assert status == 200 and body == ZERO_STATS, body
    status, _, series = gw("GET", "/api/analytics/data", token=shop["token"])
    assert status == 200 and len(series) == 7 and series[-1]["date"] == day_of(time.time())
    assert all(p == {"date": p["date"], "totalRecommendations": 0, "activeUsers": 0, "accuracy": None} for p in series)


def test_traffic_is_counted_as_it_happens(gw, shop):
    assert send(gw, shop, "POST", "/v1/interactions", {"interactions": events(["u1", "u2", "u1"])})[0] == 201
    assert send(gw, shop, "POST", "/v1/interactions", {"interactions": events(["u2", "u3"], start=10)})[0] == 201
    for user in ("u1", "u9"):
        assert send(gw, shop, "POST", "/v1/recommend", {"user_id": user, "k": 3})[0] == 200
    status, _, stats = gw("GET", "/api/analytics/stats", token=shop["token"])
    assert status == 200, stats
    assert stats["totalInteractions"] == 5  # events in answered interaction calls
    assert stats["dailyActiveUsers"] == 3 and stats["totalUsers"] == 3  # u1, u2, u3: each once
    assert stats["totalRecommendations"] == 2
    series = gw("GET", "/api/analytics/data?period=30d", token=shop["token"])[2]
    assert len(series) == 30 and series[-1] == {"date": day_of(time.time()), "totalRecommendations": 2,
                                                "activeUsers": 3, "accuracy": None}
    assert all(p["totalRecommendations"] == 0 for p in series[:-1])


def test_a_failed_metered_call_is_not_counted(gw, shop):
    """An unknown item's similar call is answered 404 and taken back: its day count goes with it."""
    status, _, body = send(gw, shop, "POST", "/v1/similar", {"item_id": "no-such-item", "k": 2})
    assert status == 404, body
    assert gw("GET", "/api/analytics/stats", token=shop["token"])[2]["totalRecommendations"] == 0


def test_a_user_is_active_once_a_day_however_often_it_is_marked(aws, shop):
    store = DailyCounterStore(aws.env["USAGE_TABLE"])
    now = time.time()
    day = day_of(now)
    assert store.mark_active(shop["tenant_id"], day, ["a", "b"], now) == 2
    assert store.inactive_users(shop["tenant_id"], day, ["a", "c", "b"]) == ["c"]
    assert store.mark_active(shop["tenant_id"], day, ["a", "c", "b"], now) == 1  # only c is new
    assert store.days(shop["tenant_id"])[day].active_users == 3


def test_accuracy_is_the_live_models_offline_ndcg_from_the_registry(gw, shop, aws):
    from recengine.runtime import runtime

    data = generate(n_users=30, n_items=40, events_per_user=8, seed=3)
    assert send(gw, shop, "POST", "/v1/items", {"items": data.items})[0] == 200
    assert send(gw, shop, "POST", "/v1/interactions", {"interactions": data.interactions[:200]})[0] == 201
    train_tenant(runtime().training, shop["tenant_id"])
    registry = runtime().registry
    live = registry.get_version(shop["tenant_id"], registry.live_model_id(shop["tenant_id"]))
    ndcg = float(live["metrics"]["ndcg@10"])
    stats = gw("GET", "/api/analytics/stats", token=shop["token"])[2]
    assert stats["activeModels"] == 1 and stats["avgAccuracy"] == pytest.approx(ndcg)
    assert stats["totalItems"] == len(data.items)
    series = gw("GET", "/api/analytics/data?period=7d", token=shop["token"])[2]
    assert series[-1]["accuracy"] == pytest.approx(ndcg) and series[0]["accuracy"] is None
    item = data.items[0]["id"]
    assert send(gw, shop, "POST", "/v1/similar", {"item_id": item, "k": 2})[0] == 200  # a similar call counts too
    assert gw("GET", "/api/analytics/stats", token=shop["token"])[2]["totalRecommendations"] == 1


@pytest.mark.parametrize("query", ["period=1d", "period=365d", "period=", "period=7d&extra=1"])
def test_a_period_other_than_7d_30d_90d_is_a_422_problem(gw, shop, query):
    status, headers, body = gw("GET", f"/api/analytics/data?{query}", token=shop["token"])
    assert status == 422 and headers["Content-Type"] == "application/problem+json", body
    assert body["status"] == 422 and body["errors"], body


def test_another_tenants_token_sees_only_its_own_numbers(gw, shop):
    assert send(gw, shop, "POST", "/v1/interactions", {"interactions": events(["u1", "u2"])})[0] == 201
    sign_up(gw, "admin@other.example", "Other")
    other = login(gw, "admin@other.example")
    for path in ("/api/analytics/stats", "/api/analytics/data"):
        status, _, body = gw("GET", path, token=other)
        assert status == 200, body
        assert body == ZERO_STATS if path.endswith("stats") else all(p["activeUsers"] == 0 for p in body)
    status, _, body = gw("GET", "/api/analytics/stats", token=other, headers={"X-Tenant-Id": shop["tenant_id"]})
    assert status == 403, body
    assert gw("GET", "/api/analytics/stats", token=shop["token"])[2]["totalInteractions"] == 2


def test_the_portal_routes_need_an_admins_token(gw, shop):
    assert gw("GET", "/api/analytics/stats")[0] == 401
    status, _, body = gw("GET", "/api/analytics/stats", headers={"x-api-key": shop["key"]})
    assert status in (401, 403) and "totalUsers" not in json.dumps(body)
    sign_up(gw, "boss@team.example", "Team")
    boss = login(gw, "boss@team.example")
    assert gw("POST", "/api/auth/register", {"email": "clerk@team.example", "name": "Clerk",
                                             "password": "correct-horse-1"}, boss)[0] == 201
    clerk = login(gw, "clerk@team.example")
    assert gw("GET", "/api/analytics/stats", token=clerk)[0] == 403
    assert gw("GET", "/api/analytics/data", token=clerk)[0] == 403


# ------------------------------------------------------------------ exactness: the tally rides with the meter
def test_the_days_count_follows_the_meter_once_per_request_id_and_back_with_a_take_back(aws, billing_clock):
    """billing_clock is 2026-03-15: the tally lands on the meter's day."""
    from recengine.analytics.counters import Tally
    from recengine.billing import metering
    from recengine.runtime import runtime
    from tests.integration.billing.test_meter import resend_once, tenant_of

    tenant, usage = tenant_of(aws.tenant()), runtime().usage
    counters = DailyCounterStore(usage.name)

    def today() -> int:
        return counters.days(tenant.tenant_id).get("2026-03-15", DayCounts("2026-03-15")).recommendations

    resent = resend_once(usage.db)  # botocore resends the transaction whose answer was lost
    metering.meter_call(usage, tenant, "gw-1", tally=Tally("recommendations"))
    metering.meter_call(usage, tenant, "gw-1", tally=Tally("recommendations"))  # the same request, again
    assert resent["resent"] == 1 and today() == 1
    with pytest.raises(RuntimeError):
        with metering.metered_beside(usage, tenant, "gw-2", Tally("recommendations")) as meter:
            meter()
            assert today() == 2
            raise RuntimeError("the work failed")
    assert today() == 1  # taken back with the call


def test_concurrent_calls_count_a_user_active_once(aws, shop):
    from concurrent.futures import ThreadPoolExecutor

    store = DailyCounterStore(aws.env["USAGE_TABLE"])
    now = time.time()
    day = day_of(now)
    users = [f"u{i}" for i in range(30)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        counted = list(pool.map(lambda _: store.mark_active(shop["tenant_id"], day, users, now), range(6)))
    assert sum(counted) == 30 and store.days(shop["tenant_id"])[day].active_users == 30
