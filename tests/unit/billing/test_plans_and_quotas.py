"""Plans are defined once (recengine/plans.py) and the template's usage plans read them; the local
gateway throttles and counts quota per key; the money rules are exact at their boundaries."""

from __future__ import annotations

import pytest

from local.gateway import Gateway, KeyState, TokenBucket
from local.template import ROOT, load_template, resources, usage_plans
from recengine.billing.plans import OVERAGE_BLOCK, PLANS, usage_plan_mapping
from recengine.billing import periods as billing
from tests.conftest import load_script
from tests.fakes import StaticKeys


def _sync_plans():
    return load_script("sync_plans")


# ------------------------------------------------------------------ one source of plan numbers
def test_the_template_mappings_are_generated_from_plans_py():
    assert load_template()["Mappings"]["Plans"] == usage_plan_mapping()
    text = (ROOT / "template.yaml").read_text()
    assert _sync_plans().render(text) == text, "template.yaml is stale: run scripts/sync_plans.py"


def test_usage_plans_carry_no_numbers_of_their_own():
    for logical_id, plan in resources("AWS::ApiGateway::UsagePlan").items():
        name = logical_id.removesuffix("UsagePlan").lower()
        props = plan["Properties"]
        for value, field in ((props["Quota"]["Limit"], "QuotaLimit"), (props["Throttle"]["RateLimit"], "RateLimit"),
                             (props["Throttle"]["BurstLimit"], "BurstLimit")):
            assert value == {"Fn::FindInMap": ["Plans", name, field]}, logical_id


def test_sync_plans_rewrites_a_changed_plan_into_the_mappings(monkeypatch):
    sync = _sync_plans()
    monkeypatch.setitem(PLANS, "growth", PLANS["growth"].model_copy(update={"quota_limit": 1_234_567}))
    monkeypatch.setattr(sync, "usage_plan_mapping", usage_plan_mapping)
    text = (ROOT / "template.yaml").read_text()
    rendered = sync.render(text)
    assert "growth: {QuotaLimit: 1234567, RateLimit: 50, BurstLimit: 100}" in rendered
    assert rendered.replace("1234567", str(1_000_000)) == text


def test_every_plan_leaves_room_for_overage_below_the_hard_quota():
    for plan in PLANS.values():
        assert plan.quota_limit >= billing.allowance(plan, plan.default_overage_cap), plan.id
        assert usage_plans()[plan.id].quota_limit == plan.quota_limit


def test_only_the_metered_functions_may_write_the_usage_table_and_only_as_the_meter_does():
    """The meter's transaction (marker Put, shard Update), its take-back (Delete), its read of the
    shards' room (BatchGetItem) and of an earlier call's marker (GetItem); nothing else, and only for
    the metered routes."""
    policy = resources("AWS::IAM::Policy")["MeteringPolicy"]["Properties"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert sorted(statement["Action"]) == ["dynamodb:BatchGetItem", "dynamodb:DeleteItem", "dynamodb:GetItem",
                                           "dynamodb:PutItem", "dynamodb:UpdateItem"]
    assert statement["Resource"] == {"Fn::GetAtt": "UsageTable.Arn"}
    assert {r["Ref"] for r in policy["Roles"]} == {"RecommendFunctionRole", "SimilarFunctionRole",
                                                   "InteractionsFunctionRole", "GraphqlFunctionRole"}


def test_plan_limits_only_update_their_counter_row():
    policy = resources("AWS::IAM::Policy")["PlanLimitPolicy"]["Properties"]
    assert [s["Action"] for s in policy["PolicyDocument"]["Statement"]] == ["dynamodb:UpdateItem"]
    assert policy["PolicyDocument"]["Statement"][0]["Resource"] == {"Fn::GetAtt": "UsageTable.Arn"}
    # The item limit (items), and the user limit (interactions, GraphQL's recordInteraction, and a
    # batch segment naming users never seen).
    assert {r["Ref"] for r in policy["Roles"]} == {"InteractionsFunctionRole", "ItemsFunctionRole",
                                                   "BatchFunctionRole", "GraphqlFunctionRole"}


# ------------------------------------------------------------------ money rules
@pytest.mark.parametrize("requests,units", [(0, 0), (100_000, 0), (100_001, 1), (101_000, 1), (101_001, 2)])
def test_each_started_block_of_1000_requests_past_the_included_is_one_unit(requests, units):
    assert billing.overage_units(requests, PLANS["growth"]) == units


@pytest.mark.parametrize("cap,allowed", [(0, 100_000), (1.99, 100_000), (2.0, 101_000), (0.3 * 10, 101_000),
                                         (500, 350_000)])
def test_the_allowance_is_the_last_request_whose_overage_fits_the_cap(cap, allowed):
    growth = PLANS["growth"]
    assert billing.allowance(growth, cap) == allowed
    assert billing.overage_units(allowed, growth) * growth.overage_unit_price <= cap
    assert billing.overage_units(allowed + 1, growth) * growth.overage_unit_price > cap


def test_periods_are_utc_calendar_months():
    assert billing.period_of(1_767_225_599) == "2025-12" and billing.period_of(1_767_225_600) == "2026-01"
    assert billing.period_bounds("2026-12") == ("2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z")
    assert OVERAGE_BLOCK == 1_000


# ------------------------------------------------------------------ the local gateway, per key
def test_the_throttle_is_per_key():
    gw = Gateway(keys=StaticKeys({"a": KeyState("ka", TokenBucket(0.001, 2), 1000, "MONTH"),
                                  "b": KeyState("kb", TokenBucket(0.001, 2), 1000, "MONTH")}))
    hit = lambda key: gw.handle("GET", "/v1/billing/usage", {"x-api-key": key}, b"")[0]  # noqa: E731
    assert 429 not in (hit("a"), hit("a"))  # the burst of 2
    assert hit("a") == 429
    assert hit("b") != 429 and hit("b") != 429  # b's bucket is untouched by a's burst
    assert hit("b") == 429


def test_the_quota_is_per_key_and_public_routes_use_none():
    gw = Gateway(keys=StaticKeys({"a": KeyState("ka", TokenBucket(1000, 1000), 1, "MONTH"),
                                  "b": KeyState("kb", TokenBucket(1000, 1000), 1, "MONTH")}))
    hit = lambda key, path="/v1/billing/usage": gw.handle("GET", path, {"x-api-key": key}, b"")  # noqa: E731
    hit("a")
    status, headers, body = hit("a")
    assert status == 429 and b"quota-exceeded" in body and int(headers["Retry-After"]) > 0
    assert hit("b")[0] != 429
    assert hit("a", "/v1/billing/plans")[0] == 200  # public: no key check, no quota


# ------------------------------------------------------------------ the meter's shards
@pytest.mark.parametrize("total", [0, 1, 15, 16, 17, 101_000, 12_000_000])
def test_an_allowance_splits_over_the_shards_exactly_and_evenly(total):
    from recengine.billing.store import SHARDS, shares

    split = shares(total)
    assert len(split) == SHARDS and sum(split) == total and max(split) - min(split) <= 1
    assert shares(-5) == [0] * SHARDS  # nothing left: no shard may count more
