"""A tenant's interaction TTL (off by default): given the setting, when interactions arrive through
the handler, then their user rows carry `expires_at` = timestamp + TTL for DynamoDB's TTL to delete;
without it they carry none; and rows already past it are not read back as history."""

from __future__ import annotations

import time

import pytest

from recengine.ranking.serve import load_history
from recengine.runtime import runtime
from tools.admin.aws import ApiKeys
from tools.admin.tenants import TenantAdmin

DAY = 86400


def user_rows(tenant_id: str, user_id: str) -> list[dict]:
    return runtime().interactions.recent_for_user(tenant_id, user_id, 100)


def set_ttl(aws, tenant_id: str, days: int | None) -> None:
    TenantAdmin(ApiKeys(), aws.env["TENANTS_TABLE"], aws.plan_ids).set_interaction_ttl(tenant_id, days)


def test_with_the_setting_each_new_row_expires_its_ttl_after_its_timestamp(aws, call):
    caller = aws.tenant()
    set_ttl(aws, caller.tenant_id, 30)
    ts = time.time() - 3600
    events = [{"user_id": "u1", "session_id": "s1", "item_id": "a", "type": "view", "event_id": "e-1", "timestamp": ts},
              {"user_id": "u1", "item_id": "b", "type": "click"}]  # no timestamp: now
    before = int(time.time())
    status, _, body = call("POST", "/v1/interactions", caller=caller, body={"interactions": events})
    assert status == 201 and body["accepted"] == 2
    rows = {r["item_id"]: r for r in user_rows(caller.tenant_id, "u1")}
    assert rows["a"]["expires_at"] == int(ts) + 30 * DAY
    assert before + 30 * DAY <= rows["b"]["expires_at"] <= int(time.time()) + 30 * DAY
    [session] = runtime().interactions.recent_for_session(caller.tenant_id, "s1", 10)
    assert session["expires_at"] == int(ts) + 7 * DAY  # sessions keep their own, shorter TTL


def test_without_the_setting_rows_never_expire_and_the_setting_can_be_turned_off(aws, call):
    caller = aws.tenant()
    assert runtime().tenants.get_tenant(caller.tenant_id).interaction_ttl_days is None  # off by default
    call("POST", "/v1/interactions", caller=caller, body={"user_id": "u1", "item_id": "a", "type": "view"})
    set_ttl(aws, caller.tenant_id, 5)
    set_ttl(aws, caller.tenant_id, None)
    assert runtime().tenants.get_tenant(caller.tenant_id).interaction_ttl_days is None
    call("POST", "/v1/interactions", caller=caller, body={"user_id": "u1", "item_id": "b", "type": "view"})
    assert [("expires_at" in r) for r in user_rows(caller.tenant_id, "u1")] == [False, False]


def test_rows_past_their_ttl_are_not_read_as_history_before_dynamodb_deletes_them(aws, call):
    caller = aws.tenant()
    set_ttl(aws, caller.tenant_id, 1)
    now = time.time()
    events = [{"user_id": "u1", "item_id": "old", "type": "view", "timestamp": now - 3 * DAY},
              {"user_id": "u1", "item_id": "new", "type": "view", "timestamp": now - 60}]
    assert call("POST", "/v1/interactions", caller=caller, body={"interactions": events})[0] == 201
    assert {r["item_id"] for r in user_rows(caller.tenant_id, "u1")} == {"old", "new"}  # not yet deleted
    items, _ = load_history(runtime().interactions, caller.tenant_id, "u1", None)
    assert items == ["new"]


@pytest.mark.parametrize("days", [0, -1, 3651])
def test_an_out_of_range_ttl_is_refused_and_nothing_changes(aws, days):
    caller = aws.tenant()
    with pytest.raises(ValueError, match="interaction_ttl_days"):
        set_ttl(aws, caller.tenant_id, days)
    assert runtime().tenants.get_tenant(caller.tenant_id).interaction_ttl_days is None
