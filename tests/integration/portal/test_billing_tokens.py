"""/api/billing/* with the portal's token as well as API keys, through the local gateway (the REQUEST
authorizer as API Gateway runs it) on in-process moto: a token acts for its own tenant with its
group's role (admin changes the cap and checks out, user reads), a key value is validated by the
function (API Gateway checks no key on these routes), and no credential crosses tenants."""

from __future__ import annotations

import json

import pytest

from local.provision import create_key
from recengine.billing import payments
from recengine.runtime import runtime
from recengine.tenancy.roles import Role
from tests.integration.portal.test_portal import PASSWORD, gw, login, sign_up  # noqa: F401 - gw is a fixture

READS = ("/api/billing/current", "/api/billing/usage", "/api/billing/invoices")
CHANGES = (("PUT", "/api/billing/overage-cap", {"capAmount": 250.0}),
           ("POST", "/api/billing/checkout", {"planId": "plan-growth", "interval": "monthly"}),
           ("POST", "/api/billing/portal", None))


@pytest.fixture
def shops(gw, monkeypatch):  # noqa: F811 - the imported fixture
    """Shops A and B signed up on the portal, each with its admin's token; A also has a user's token."""
    monkeypatch.setattr(runtime(), "payments", payments.InMemoryPaymentProvider())
    out = {}
    for name in ("a", "b"):
        account = sign_up(gw, f"admin@{name}.example", f"Shop {name.upper()}")
        out[name] = {"tenant_id": account["tenantId"], "admin": login(gw, f"admin@{name}.example")}
    status, _, clerk = gw("POST", "/api/auth/register", {"email": "clerk@a.example", "name": "Clerk",
                                                         "password": PASSWORD}, out["a"]["admin"])
    assert status == 201, clerk
    out["a"]["user"] = login(gw, "clerk@a.example")
    return out


def test_an_admins_token_reads_and_changes_its_own_tenants_billing(gw, shops):  # noqa: F811
    a = shops["a"]
    assert gw("GET", "/api/billing/current", token=a["admin"])[2]["tenantId"] == a["tenant_id"]
    status, _, usage = gw("GET", "/api/billing/usage", token=a["admin"])
    assert status == 200 and usage["plan"] == "plan-starter"
    assert gw("GET", "/api/billing/invoices", token=a["admin"])[0] == 200
    status, _, capped = gw("PUT", "/api/billing/overage-cap", {"capAmount": 250.0}, a["admin"])
    assert status == 200 and capped["overageBudgetCap"] == 250.0 and capped["tenantId"] == a["tenant_id"]
    status, _, checkout = gw("POST", "/api/billing/checkout", {"planId": "plan-growth"}, a["admin"])
    assert status == 200 and runtime().payments.sessions[checkout["sessionId"]][0] == a["tenant_id"]
    assert gw("POST", "/api/billing/portal", token=a["admin"])[2] == {"portalUrl": f"memory://portal/{a['tenant_id']}"}


def test_a_users_token_reads_billing_but_changes_nothing(gw, shops):  # noqa: F811
    a = shops["a"]
    for path in READS:
        assert gw("GET", path, token=a["user"])[0] == 200, path
    for method, path, body in CHANGES:
        status, headers, problem = gw(method, path, body, a["user"])
        assert status == 403 and headers["Content-Type"] == "application/problem+json", (path, problem)
    assert gw("GET", "/api/billing/usage", token=a["admin"])[2]["overageCapSource"] != "tenant"


def test_another_tenants_token_acts_only_on_its_own_tenant(gw, shops):  # noqa: F811
    a, b = shops["a"], shops["b"]
    for path in READS:
        status, _, body = gw("GET", path, token=b["admin"])
        assert status == 200 and a["tenant_id"] not in json.dumps(body), path
    assert gw("PUT", "/api/billing/overage-cap", {"capAmount": 1.0}, b["admin"])[2]["tenantId"] == b["tenant_id"]
    assert gw("POST", "/api/billing/portal", token=b["admin"])[2] == {"portalUrl": f"memory://portal/{b['tenant_id']}"}
    assert gw("GET", "/api/billing/usage", token=a["admin"])[2]["overageBudgetCap"] != 1.0
    status, _, body = gw("GET", "/api/billing/usage", token=b["admin"], headers={"X-Tenant-Id": a["tenant_id"]})
    assert status == 403 and a["tenant_id"] not in json.dumps({k: v for k, v in body.items() if k != "detail"})


def test_forged_and_expired_tokens_are_401(gw, shops):  # noqa: F811
    import sys
    import time

    header, payload, signature = shops["b"]["admin"].split(".")
    forged = f"{header}.{shops['a']['admin'].split('.')[1]}.{signature}"
    assert gw("GET", "/api/billing/usage", token=forged)[0] == 401
    sys.modules["fn_AuthorizerFunction"].verifier().clock = lambda: time.time() + 7200
    status, headers, body = gw("PUT", "/api/billing/overage-cap", {"capAmount": 5.0}, shops["a"]["admin"])
    assert status == 401 and headers["Content-Type"] == "application/problem+json", body


def test_api_keys_keep_working_with_their_roles(gw, aws):  # noqa: F811
    shop = aws.tenant("keyed")
    admin = shop.key_value
    read, _ = create_key(aws.env["TENANTS_TABLE"], shop.tenant_id, Role.READ, aws.plan_ids)
    for headers in ({"x-api-key": admin}, {"Authorization": f"Bearer {admin}"}):
        status, _, body = gw("PUT", "/api/billing/overage-cap", {"capAmount": 90.0}, headers=headers)
        assert status == 200 and body["tenantId"] == shop.tenant_id, body
    status, _, usage = gw("GET", "/api/billing/usage", headers={"x-api-key": read})
    assert status == 200 and usage["overageBudgetCap"] == 90.0
    status, _, problem = gw("PUT", "/api/billing/overage-cap", {"capAmount": 1.0}, headers={"x-api-key": read})
    assert status == 403 and problem["type"] == "/problems/insufficient-scope"


def test_unknown_forged_and_revoked_keys_are_401(gw, aws):  # noqa: F811
    """The authorizer lets any key-shaped value through to these routes: the function refuses it."""
    from tools.admin.aws import ApiKeys
    from tools.admin.tenants import TenantAdmin

    shop = aws.tenant("keyed")
    value, key_id = create_key(aws.env["TENANTS_TABLE"], shop.tenant_id, Role.ADMIN, aws.plan_ids)
    TenantAdmin(ApiKeys(), aws.env["TENANTS_TABLE"], aws.plan_ids).revoke_key(key_id)
    for credential in (value, "rk_admin_forged-value", shop.key_value + "x"):
        status, headers, problem = gw("PUT", "/api/billing/overage-cap", {"capAmount": 1.0},
                                      headers={"x-api-key": credential})
        assert status == 401 and headers["Content-Type"] == "application/problem+json", problem
    assert gw("GET", "/api/billing/usage", headers={"x-api-key": shop.key_value})[2]["overageBudgetCap"] != 1.0
    assert gw("GET", "/api/billing/usage")[0] == 401  # no credential at all


def test_plans_stay_public(gw):  # noqa: F811
    status, _, plans = gw("GET", "/api/billing/plans")
    assert status == 200 and [p["id"] for p in plans][:1] == ["plan-starter"]
