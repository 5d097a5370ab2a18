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


# ------------------------------------------------------------------ key roles
def put_cap(gateway, key):
    status, _, body = gateway.handle("PUT", "/v1/billing/overage-cap",
                                     {"x-api-key": key, "Content-Type": "application/json"}, b'{"cap_amount": 100}')
    return status, json.loads(body)


def binding_role(key_id):
    return runtime().api_keys.key_binding(key_id)["role"]


def test_tenant_create_issues_an_admin_key(aws, stack, capsys):
    state, gateway = stack
    out = cli(capsys, state, "tenant", "create", "--name", "acme", "--plan", "growth", "--tenant-id", "acme")
    assert out["role"] == "admin" and out["api_key"].startswith("rk_admin_") and binding_role(out["key_id"]) == "admin"
    assert put_cap(gateway, out["api_key"])[0] == 200


def test_key_create_issues_a_key_with_the_role_and_the_gateway_enforces_it(aws, stack, capsys):
    state, gateway = stack
    admin = cli(capsys, state, "tenant", "create", "--name", "acme", "--plan", "growth", "--tenant-id", "acme")
    read = cli(capsys, state, "key", "create", "--tenant", "acme", "--role", "read")
    write = cli(capsys, state, "key", "create", "--tenant", "acme", "--role", "write")
    assert read["api_key"].startswith("rk_read_") and read["role"] == "read" and binding_role(read["key_id"]) == "read"
    assert write["api_key"].startswith("rk_write_") and binding_role(write["key_id"]) == "write"
    assert plan_keys(aws, "growth") == {admin["key_id"], read["key_id"], write["key_id"]}
    assert get(gateway, read["api_key"])[0] == 200  # every GET is a read route
    status, problem = put_cap(gateway, read["api_key"])
    assert status == 403 and problem["type"] == "/problems/insufficient-scope"
    assert put_cap(gateway, write["api_key"])[0] == 403
    keys = {k["key_id"]: k["role"] for k in cli(capsys, state, "tenant", "list")["tenants"][0]["keys"]}
    assert keys == {admin["key_id"]: "admin", read["key_id"]: "read", write["key_id"]: "write"}
    assert main(["--state-file", str(state), "tenant", "list"]) == 0
    assert f"{read['key_id']} (read)" in capsys.readouterr().out
    with pytest.raises(SystemExit) as refused:  # argparse: not one of the roles
        main(["--state-file", str(state), "key", "create", "--tenant", "acme", "--role", "root"])
    assert refused.value.code == 2
    assert main(["--state-file", str(state), "key", "create", "--tenant", "nobody", "--role", "read"]) == 1


def test_key_rotate_replaces_every_key_with_one_of_the_same_role(aws, stack, capsys):
    state, gateway = stack
    admin = cli(capsys, state, "tenant", "create", "--name", "acme", "--plan", "growth", "--tenant-id", "acme")
    read = cli(capsys, state, "key", "create", "--tenant", "acme", "--role", "read")
    rotated = cli(capsys, state, "key", "rotate", "--tenant", "acme")
    assert sorted(rotated["revoked_key_ids"]) == sorted([admin["key_id"], read["key_id"]])
    new = {k["replaces"]: k for k in rotated["keys"]}
    assert new[admin["key_id"]]["role"] == "admin" and new[admin["key_id"]]["api_key"].startswith("rk_admin_")
    assert new[read["key_id"]]["role"] == "read" and new[read["key_id"]]["api_key"].startswith("rk_read_")
    assert get(gateway, admin["api_key"])[0] == 401 and get(gateway, read["api_key"])[0] == 401
    assert put_cap(gateway, new[read["key_id"]]["api_key"])[0] == 403
    assert put_cap(gateway, new[admin["key_id"]]["api_key"])[0] == 200


def test_key_rotate_with_a_role_replaces_only_the_keys_of_that_role(aws, stack, capsys):
    state, gateway = stack
    admin = cli(capsys, state, "tenant", "create", "--name", "acme", "--plan", "growth", "--tenant-id", "acme")
    read = cli(capsys, state, "key", "create", "--tenant", "acme", "--role", "read")
    rotated = cli(capsys, state, "key", "rotate", "--tenant", "acme", "--role", "read")
    assert rotated["revoked_key_ids"] == [read["key_id"]] and rotated["role"] == "read"
    assert rotated["api_key"].startswith("rk_read_") and rotated["keys"][0]["replaces"] == read["key_id"]
    assert get(gateway, admin["api_key"])[0] == 200 and get(gateway, read["api_key"])[0] == 401
    assert get(gateway, rotated["api_key"])[0] == 200


def test_a_key_from_before_roles_stays_admin_and_rotates_to_an_admin_key(aws, stack, capsys):
    """Keys issued before roles have no prefix and no role on their binding: admin, as they were."""
    state, gateway = stack
    cli(capsys, state, "tenant", "create", "--name", "acme", "--plan", "growth", "--tenant-id", "acme")
    apigw, legacy_value = boto3.client("apigateway"), "k4nM3NXzq8Yw0aPlLegacyKeyValue0123456789"
    key_id = apigw.create_api_key(name="acme-legacy", value=legacy_value, enabled=True)["id"]
    apigw.create_usage_plan_key(usagePlanId=aws.plan_ids["growth"], keyId=key_id, keyType="API_KEY")
    runtime().api_keys.put_row({"pk": f"key#{key_id}", "tenant_id": "acme", "created_at": 1.0})  # no role
    gateway.keys._reload()
    assert put_cap(gateway, legacy_value)[0] == 200
    listed = {k["key_id"]: k["role"] for k in cli(capsys, state, "tenant", "list")["tenants"][0]["keys"]}
    assert listed[key_id] == "admin"
    rotated = cli(capsys, state, "key", "rotate", "--tenant", "acme", "--role", "admin")
    assert {k["replaces"]: k["role"] for k in rotated["keys"]}[key_id] == "admin"
    assert all(k["api_key"].startswith("rk_admin_") for k in rotated["keys"])
    assert get(gateway, legacy_value)[0] == 401


def test_tenant_ttl_sets_and_clears_the_interaction_ttl(aws, stack, capsys):
    state, _ = stack
    created = cli(capsys, state, "tenant", "create", "--name", "t", "--plan", "growth", "--tenant-id", "tenant-ttl")
    assert cli(capsys, state, "tenant", "ttl", "--tenant", created["tenant_id"], "--days", "30") == {
        "tenant_id": "tenant-ttl", "interaction_ttl_days": 30}
    assert runtime().tenants.get_tenant("tenant-ttl").interaction_ttl_days == 30
    listed = {t["tenant_id"]: t for t in cli(capsys, state, "tenant", "list")["tenants"]}
    assert listed["tenant-ttl"]["interaction_ttl_days"] == 30
    assert main(["--state-file", str(state), "tenant", "ttl", "--tenant", "tenant-ttl", "--days", "0"]) == 1
    assert "interaction_ttl_days" in capsys.readouterr().err
    assert cli(capsys, state, "tenant", "ttl", "--tenant", "tenant-ttl", "--off")["interaction_ttl_days"] is None
    assert runtime().tenants.get_tenant("tenant-ttl").interaction_ttl_days is None


def test_key_digests_make_a_key_issued_before_them_known_by_value(aws, stack, capsys):
    """A key bound without its value's digest (issued before digests were kept) is unknown by value
    (register, the key-or-token routes answer 401) until `key digests` records it."""
    from recengine.errors import UnauthorizedError
    from recengine.tenancy.keys import value_key

    state, _ = stack
    out = cli(capsys, state, "tenant", "create", "--name", "old", "--plan", "growth", "--tenant-id", "old-shop")
    rt = runtime()
    rt.api_keys.db.delete_item(TableName=rt.api_keys.name, Key={"pk": {"S": value_key(out["api_key"])["pk"]}})
    with pytest.raises(UnauthorizedError):
        rt.tenant_resolver.resolve_value(out["api_key"])
    assert cli(capsys, state, "key", "digests", "--tenant", "old-shop") == {"digested_key_ids": [out["key_id"]]}
    assert rt.tenant_resolver.resolve_value(out["api_key"]).tenant_id == "old-shop"
    assert main(["--state-file", str(state), "key", "digests"]) == 0
    assert out["key_id"] in capsys.readouterr().out
    assert out["api_key"] not in json.dumps(list(rt.api_keys.scan_rows()), default=str)  # its digest only
