"""The tenant admin CLI against moto: create, list, rotate, revoke and plan change, with the local
gateway (which re-reads keys when the CLI touches the stack's state file) and the handlers."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber

from local.gateway import Gateway, KeyRegistry
from tools.admin import target as targets
from tools.admin.cli import main
from recengine.runtime import runtime
from tests.conftest import local_state_file


@pytest.fixture
def stack(aws, tmp_path):
    """A local-stack state file naming the moto resources, and a gateway watching it."""
    state = local_state_file(aws, tmp_path)
    return state, Gateway(keys=KeyRegistry(refresh_s=3600, state_file=state))


def cli(capsys, state, *args) -> dict:
    assert main(["--state-file", str(state), "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def get(gateway, key, path="/v1/billing/current"):
    status, _, body = gateway.handle("GET", path, {"x-api-key": key}, b"")
    return status, json.loads(body)


def plan_keys(aws, plan):
    return {k["id"] for k in boto3.client("apigateway").get_usage_plan_keys(usagePlanId=aws.plan_ids[plan])["items"]}


def test_tenant_create_issues_a_key_on_the_plan_and_records_the_tenant(aws, stack, capsys):
    state, gateway = stack
    out = cli(capsys, state, "tenant", "create", "--name", "Acme Corp", "--plan", "starter")
    assert out["tenant_id"].startswith("acme-corp-") and out["plan"] == "starter" and len(out["api_key"]) >= 30
    assert plan_keys(aws, "starter") == {out["key_id"]}
    assert runtime().tenants.get_tenant(out["tenant_id"]).plan == "starter"
    status, body = get(gateway, out["api_key"])
    assert status == 200 and body["tenant_id"] == out["tenant_id"] and body["plan"]["id"] == "starter"


def test_tenant_list_shows_plans_and_keys(aws, stack, capsys):
    state, _ = stack
    first = cli(capsys, state, "tenant", "create", "--name", "a", "--plan", "growth", "--tenant-id", "tenant-a")
    cli(capsys, state, "tenant", "create", "--name", "b", "--plan", "enterprise", "--tenant-id", "tenant-b")
    listed = {t["tenant_id"]: t for t in cli(capsys, state, "tenant", "list")["tenants"]}
    assert listed["tenant-a"]["plan"] == "growth" and listed["tenant-b"]["plan"] == "enterprise"
    assert [k["key_id"] for k in listed["tenant-a"]["keys"]] == [first["key_id"]]
    assert main(["--state-file", str(state), "tenant", "list"]) == 0
    assert "tenant-a" in capsys.readouterr().out


def test_key_rotate_issues_a_new_key_and_the_old_one_is_refused_at_once(aws, stack, capsys):
    state, gateway = stack
    old = cli(capsys, state, "tenant", "create", "--name", "acme", "--plan", "growth", "--tenant-id", "acme")
    assert get(gateway, old["api_key"])[0] == 200
    new = cli(capsys, state, "key", "rotate", "--tenant", "acme")
    assert new["revoked_key_ids"] == [old["key_id"]] and new["key_id"] != old["key_id"]
    assert get(gateway, old["api_key"])[0] == 401
    assert get(gateway, new["api_key"])[0] == 200
    assert plan_keys(aws, "growth") >= {new["key_id"]}
    assert boto3.client("apigateway").get_api_key(apiKey=old["key_id"])["enabled"] is False  # disabled, not deleted


def test_key_revoke_is_refused_by_the_gateway_and_by_the_function(aws, stack, capsys, call, monkeypatch):
    from tests.conftest import Caller

    state, gateway = stack
    out = cli(capsys, state, "tenant", "create", "--name", "acme", "--plan", "growth")
    caller = Caller(out["tenant_id"], out["key_id"])
    assert call("POST", "/v1/recommend", caller=caller, body={"user_id": "u"})[0] == 200
    assert cli(capsys, state, "key", "revoke", "--key-id", out["key_id"]) == {
        "tenant_id": out["tenant_id"], "revoked_key_ids": [out["key_id"]]}
    status, problem = get(gateway, out["api_key"])
    assert status == 401 and problem["type"] == "/problems/unauthorized"
    # Behind API Gateway, a warm function re-reads the binding after its tenant cache expires.
    monkeypatch.setattr(runtime().tenant_resolver, "ttl_s", 0.0)
    assert call("POST", "/v1/recommend", caller=caller, body={"user_id": "u"})[0] == 401


def test_plan_change_moves_the_keys_to_the_new_usage_plan(aws, stack, capsys):
    state, gateway = stack
    out = cli(capsys, state, "tenant", "create", "--name", "acme", "--plan", "starter", "--tenant-id", "acme")
    get(gateway, out["api_key"])
    changed = cli(capsys, state, "plan", "change", "--tenant", "acme", "--plan", "enterprise")
    assert changed == {"tenant_id": "acme", "plan": "enterprise", "key_ids": [out["key_id"]]}
    assert out["key_id"] in plan_keys(aws, "enterprise") and out["key_id"] not in plan_keys(aws, "starter")
    assert runtime().tenants.get_tenant("acme").plan == "enterprise"
    assert gateway.keys.lookup(out["api_key"]).bucket.rate == 500  # the gateway throttles by the new plan


def test_errors_exit_1_with_a_message(aws, stack, capsys):
    state, _ = stack
    assert main(["--state-file", str(state), "key", "rotate", "--tenant", "nobody"]) == 1
    assert "tenant 'nobody' not found" in capsys.readouterr().err
    cli(capsys, state, "tenant", "create", "--name", "x", "--plan", "growth", "--tenant-id", "taken")
    assert main(["--state-file", str(state), "tenant", "create", "--name", "y", "--plan", "growth",
                 "--tenant-id", "taken"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["--state-file", str(state), "key", "revoke", "--key-id", "nope"]) == 1


def test_the_target_comes_from_the_environment(aws, capsys, monkeypatch):
    monkeypatch.setenv("TENANTS_TABLE", aws.env["TENANTS_TABLE"])
    monkeypatch.setenv("USAGE_PLAN_IDS", ",".join(f"{k}={v}" for k, v in aws.plan_ids.items()))
    assert main(["--json", "tenant", "create", "--name", "envco", "--plan", "growth"]) == 0
    assert json.loads(capsys.readouterr().out)["key_id"] in plan_keys(aws, "growth")
    monkeypatch.delenv("USAGE_PLAN_IDS")
    assert main(["tenant", "list"]) == 1
    assert "USAGE_PLAN_IDS" in capsys.readouterr().err


def test_the_target_comes_from_a_deployed_stacks_outputs():
    cfn = boto3.client("cloudformation", region_name="us-east-1")
    outputs = {"ApiId": "a1", "TenantsTableName": "prod-Tenants", "UsageTableName": "prod-Usage",
               "StarterUsagePlanId": "p-s", "GrowthUsagePlanId": "p-g", "EnterpriseUsagePlanId": "p-e"}
    with Stubber(cfn) as stub:
        stub.add_response("describe_stacks", {"Stacks": [{
            "StackName": "recengine", "CreationTime": "2026-01-01T00:00:00Z", "StackStatus": "CREATE_COMPLETE",
            "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()]}]},
            {"StackName": "recengine"})
        found = targets.from_stack("recengine", cloudformation=cfn)
    assert (found.tenants_table, found.usage_table) == ("prod-Tenants", "prod-Usage")
    assert found.plan_ids == {"starter": "p-s", "growth": "p-g", "enterprise": "p-e"}


def test_the_target_comes_from_the_local_stack_state_file(aws, stack):
    state, _ = stack
    found = targets.from_state_file(state)
    assert found.tenants_table == aws.env["TENANTS_TABLE"] and found.plan_ids == aws.plan_ids
    assert found.state_file == state
