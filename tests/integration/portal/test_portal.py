"""Portal accounts and end users through the local gateway (which runs the REQUEST authorizer as
API Gateway does) on in-process moto: moto's cognito-idp issues the tokens, the authorizer verifies
them against the pool's JWKS. Sign-up, adding accounts, login, GoTrue grants, users CRUD, deletion
by erasure, and tenant isolation on every portal route."""

from __future__ import annotations

import json
import sys

import pytest

from local.gateway import Gateway, KeyRegistry
from local.provision import create_key, create_portal_admin
from recengine.tenancy.roles import Role
from tests.integration.conftest import drain_erasure_queue

PASSWORD = "correct-horse-1"
# Every portal route, each called below with another tenant's token (or, public, shown to act only on
# the caller's own tenant); tests/integration/tenancy/test_isolation.py covers the API-key routes.
ISOLATION_COVERED = {("POST", "/api/auth/register"), ("POST", "/api/auth/login"), ("POST", "/auth/v1/token"),
                     ("GET", "/api/users"), ("POST", "/api/users"), ("GET", "/api/users/{user_id}"),
                     ("PUT", "/api/users/{user_id}"), ("PATCH", "/api/users/{user_id}/toggle-status"),
                     ("DELETE", "/api/users/{user_id}")}


@pytest.fixture
def gw(aws):
    """A gateway on this test's pool: the authorizer's cached verifier (of an earlier pool) is dropped."""
    authorizer = sys.modules.get("fn_AuthorizerFunction")
    if authorizer is not None:
        authorizer.reset_verifier()
    gateway = Gateway(keys=KeyRegistry())

    def call(method: str, path: str, body=None, token: str | None = None, headers: dict | None = None):
        sent = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {}),
                **(headers or {})}
        status, out_headers, payload = gateway.handle(method, path, sent, json.dumps(body).encode() if body is not None
                                                      else b"")
        return status, out_headers, (json.loads(payload) if payload else None)

    return call


def sign_up(gw, email: str, name: str) -> dict:
    status, _, user = gw("POST", "/api/auth/register", {"email": email, "name": name, "password": PASSWORD})
    assert status == 201, user
    return user


def login(gw, email: str, password: str = PASSWORD) -> str:
    status, _, body = gw("POST", "/api/auth/login", {"email": email, "password": password})
    assert status == 200, body
    return body["token"]


@pytest.fixture
def two_tenants(gw):
    """Tenants A and B, each signed up by its admin, each with one end user."""
    tenants = {}
    for name in ("a", "b"):
        account = sign_up(gw, f"admin@{name}.example", f"Shop {name.upper()}")
        token = login(gw, f"admin@{name}.example")
        status, _, user = gw("POST", "/api/users", {"id": f"user-{name}", "email": f"u@{name}.example",
                                                    "name": f"User {name}"}, token)
        assert status == 201, user
        tenants[name] = {"account": account, "token": token, "user": user}
    return tenants


def test_a_sign_up_creates_a_tenant_on_the_starter_plan_and_its_admin(gw, aws):
    from recengine.runtime import runtime

    user = sign_up(gw, "Founder@Shop.example", "Founder Shop")
    assert set(user) == {"id", "email", "name", "role", "isActive", "createdAt", "tenantId"}
    assert (user["email"], user["role"], user["isActive"]) == ("founder@shop.example", "admin", True)
    assert "password" not in json.dumps(user)
    tenant = runtime().tenants.get_tenant(user["tenantId"])
    assert tenant is not None and tenant.plan == "starter"


def test_the_same_email_cannot_sign_up_twice_and_makes_no_second_tenant(gw):
    from recengine.runtime import runtime

    sign_up(gw, "dup@shop.example", "Dup")
    before = len(runtime().tenants.list_tenants())
    status, headers, body = gw("POST", "/api/auth/register", {"email": "dup@shop.example", "name": "Again",
                                                              "password": PASSWORD})
    assert status == 409 and headers["Content-Type"] == "application/problem+json", body
    assert len(runtime().tenants.list_tenants()) == before


def test_an_admins_token_adds_an_account_to_its_own_tenant(gw):
    admin = sign_up(gw, "boss@shop.example", "Shop")
    token = login(gw, "boss@shop.example")
    status, _, added = gw("POST", "/api/auth/register", {"email": "clerk@shop.example", "name": "Clerk",
                                                         "password": PASSWORD}, token)
    assert status == 201, added
    assert added["tenantId"] == admin["tenantId"] and added["role"] == "user"
    clerk = login(gw, "clerk@shop.example")
    # a user-group token reads an end user but may not add accounts or administer users
    status, _, body = gw("POST", "/api/auth/register", {"email": "x@shop.example", "name": "X",
                                                        "password": PASSWORD}, clerk)
    assert status == 403, body
    assert gw("GET", "/api/users", token=clerk)[0] == 403


def test_register_with_a_tenants_admin_api_key_adds_an_account_to_that_tenant(gw, aws):
    """API Gateway checks no key on this public route: the function validates the value itself."""
    from recengine.runtime import runtime

    caller = aws.tenant("keyed")
    value, _ = create_key(aws.env["TENANTS_TABLE"], caller.tenant_id, Role.ADMIN, aws.plan_ids)
    before = len(runtime().tenants.list_tenants())
    for i, headers in enumerate(({"x-api-key": value}, {"Authorization": f"Bearer {value}"})):
        email = f"k{i}@shop.example"
        status, _, added = gw("POST", "/api/auth/register", {"email": email, "name": "K", "password": PASSWORD},
                              headers=headers)
        assert status == 201, added
        assert added["tenantId"] == caller.tenant_id and added["role"] == "user"
    assert len(runtime().tenants.list_tenants()) == before  # not taken for a sign-up
    token = login(gw, email)
    assert gw("GET", "/api/users/nobody", token=token)[0] == 404  # a member of the key's tenant


@pytest.mark.parametrize("role", [Role.READ, Role.WRITE])
def test_register_with_a_read_or_write_api_key_is_403(gw, aws, role):
    caller = aws.tenant("keyed")
    value, _ = create_key(aws.env["TENANTS_TABLE"], caller.tenant_id, role, aws.plan_ids)
    status, headers, body = gw("POST", "/api/auth/register", {"email": "r@shop.example", "name": "R",
                                                              "password": PASSWORD}, headers={"x-api-key": value})
    assert status == 403 and headers["Content-Type"] == "application/problem+json", body
    assert body["type"] == "/problems/forbidden"
    assert gw("POST", "/api/auth/login", {"email": "r@shop.example", "password": PASSWORD})[0] == 401


def test_register_with_a_revoked_or_unknown_api_key_is_401(gw, aws):
    from tools.admin.aws import ApiKeys
    from tools.admin.tenants import TenantAdmin

    caller = aws.tenant("keyed")
    value, key_id = create_key(aws.env["TENANTS_TABLE"], caller.tenant_id, Role.ADMIN, aws.plan_ids)
    TenantAdmin(ApiKeys(), aws.env["TENANTS_TABLE"], aws.plan_ids).revoke_key(key_id)
    forged = value[:-4] + ("AAAA" if not value.endswith("AAAA") else "BBBB")
    for credential in (value, forged, "rk_admin_never-issued", "legacy-looking-key"):
        status, headers, body = gw("POST", "/api/auth/register", {"email": "x@shop.example", "name": "X",
                                                                  "password": PASSWORD},
                                   headers={"x-api-key": credential})
        assert status == 401 and headers["Content-Type"] == "application/problem+json", (credential, body)
        assert body["type"] == "/problems/unauthorized"
    assert gw("POST", "/api/auth/login", {"email": "x@shop.example", "password": PASSWORD})[0] == 401


def test_login_with_a_wrong_password_is_401_and_says_nothing_more(gw):
    sign_up(gw, "who@shop.example", "Who")
    for email, password in (("who@shop.example", "wrong-password"), ("nobody@shop.example", PASSWORD)):
        status, _, body = gw("POST", "/api/auth/login", {"email": email, "password": password})
        assert status == 401 and body["detail"] == "the credentials are not valid"


def test_gotrue_password_and_refresh_grants(gw):
    sign_up(gw, "go@true.example", "GoTrue")
    status, _, body = gw("POST", "/auth/v1/token?grant_type=password", {"email": "go@true.example",
                                                                        "password": PASSWORD})
    assert status == 200, body
    assert body["token_type"] == "bearer" and body["expires_in"] > 0 and body["refresh_token"]
    assert body["user"]["email"] == "go@true.example"
    assert gw("GET", "/api/users", token=body["access_token"])[0] == 200
    status, _, again = gw("POST", "/auth/v1/token?grant_type=refresh_token", {"refresh_token": body["refresh_token"]})
    assert status == 200, again
    assert again["user"]["id"] == body["user"]["id"]
    assert gw("GET", "/api/users", token=again["access_token"])[0] == 200
    assert gw("POST", "/auth/v1/token?grant_type=client_credentials", {})[0] == 422
    # a grant without its credentials is refused as wrong ones are
    assert gw("POST", "/auth/v1/token?grant_type=refresh_token", {"email": "go@true.example",
                                                                   "password": PASSWORD})[0] == 401
    assert gw("POST", "/auth/v1/token?grant_type=password", {"refresh_token": body["refresh_token"]})[0] == 401


def test_a_made_up_refresh_token_is_401(gw):
    from local.moto_cognito import unknown_refresh_tokens_refused

    with unknown_refresh_tokens_refused():  # moto answers a KeyError (500) where Cognito says NotAuthorized
        status, _, body = gw("POST", "/auth/v1/token?grant_type=refresh_token", {"refresh_token": "made-up"})
    assert status == 401, body


def test_users_crud(gw):
    sign_up(gw, "crud@shop.example", "Crud")
    token = login(gw, "crud@shop.example")
    for i in range(3):
        status, _, user = gw("POST", "/api/users", {"id": f"u-{i}", "email": f"u{i}@x.example",
                                                    "name": f"Person {i}"}, token)
        assert status == 201 and user["isActive"] is True and user["role"] == "user"
    assert gw("POST", "/api/users", {"id": "u-0", "email": "again@x.example", "name": "Again"}, token)[0] == 409
    status, _, page = gw("GET", "/api/users?page=2&pageSize=2", token=token)
    assert status == 200 and (page["total"], page["page"], page["pageSize"]) == (3, 2, 2)
    assert [u["id"] for u in page["data"]] == ["u-2"]
    status, _, found = gw("GET", "/api/users?search=person%201", token=token)
    assert [u["id"] for u in found["data"]] == ["u-1"] and found["total"] == 1
    status, _, one = gw("GET", "/api/users/u-1", token=token)
    assert status == 200 and one["lastActiveAt"] is None and one["email"] == "u1@x.example"
    status, _, put = gw("PUT", "/api/users/u-1", {"email": "new@x.example", "name": "Renamed", "role": "admin",
                                                  "isActive": True}, token)
    assert status == 200 and (put["email"], put["name"], put["role"]) == ("new@x.example", "Renamed", "admin")
    assert put["createdAt"] == one["createdAt"]
    assert gw("PUT", "/api/users/u-1", {"id": "u-9", "email": "a@x.example", "name": "A"}, token)[0] == 422
    assert gw("PUT", "/api/users/missing", {"email": "a@x.example", "name": "A"}, token)[0] == 404
    status, _, toggled = gw("PATCH", "/api/users/u-1/toggle-status", token=token)
    assert status == 200 and toggled["isActive"] is False
    assert gw("PATCH", "/api/users/u-1/toggle-status", token=token)[2]["isActive"] is True
    status, headers, _ = gw("DELETE", "/api/users/u-1", token=token)
    assert status == 204 and headers["Location"].startswith("/v1/users/erasures/")
    assert gw("GET", "/api/users/u-1", token=token)[0] == 404
    assert gw("DELETE", "/api/users/u-1", token=token)[0] == 404


def test_deleting_a_user_erases_their_interactions(gw, aws):
    """A tenant with API keys (events) and a portal admin: the DELETE's erasure job removes the history."""
    from recengine.runtime import runtime

    caller = aws.tenant("events")
    password = create_portal_admin(caller.tenant_id, "ops@events.example")
    token = login(gw, "ops@events.example", password)
    write, _ = create_key(aws.env["TENANTS_TABLE"], caller.tenant_id, Role.WRITE, aws.plan_ids)
    events = [{"user_id": "shopper-1", "item_id": f"item-{i}", "type": "click", "event_id": f"e-{i}"} for i in range(3)]
    status, _, body = gw("POST", "/v1/interactions", {"interactions": events}, headers={"x-api-key": write})
    assert status == 201, body
    assert gw("POST", "/api/users", {"id": "shopper-1", "email": "s@x.example", "name": "Shopper"}, token)[0] == 201
    assert gw("GET", "/api/users/shopper-1", token=token)[2]["lastActiveAt"] is not None
    assert gw("DELETE", "/api/users/shopper-1", token=token)[0] == 204
    assert drain_erasure_queue(aws) == 1
    assert runtime().interactions.recent_for_user(caller.tenant_id, "shopper-1", 10) == []


@pytest.mark.parametrize("method,path,body", [
    ("GET", "/api/users/{id}", None),
    ("PUT", "/api/users/{id}", {"email": "pwn@x.example", "name": "Pwned"}),
    ("PATCH", "/api/users/{id}/toggle-status", None),
    ("DELETE", "/api/users/{id}", None),
])
def test_another_tenants_token_never_reaches_a_user(gw, two_tenants, method, path, body):
    a, b = two_tenants["a"], two_tenants["b"]
    status, _, answer = gw(method, path.replace("{id}", a["user"]["id"]), body, b["token"])
    assert status in (403, 404), answer
    assert "u@a.example" not in json.dumps(answer)
    status, _, still = gw("GET", f"/api/users/{a['user']['id']}", token=a["token"])
    assert status == 200 and still == {**a["user"], "lastActiveAt": None}  # unchanged, not deleted


def test_another_tenants_token_lists_and_creates_only_in_its_own_tenant(gw, two_tenants):
    a, b = two_tenants["a"], two_tenants["b"]
    assert [u["id"] for u in gw("GET", "/api/users", token=b["token"])[2]["data"]] == ["user-b"]
    assert gw("GET", "/api/users?search=user-a", token=b["token"])[2] == {"data": [], "total": 0, "page": 1,
                                                                          "pageSize": 20}
    assert gw("POST", "/api/users", {"id": "user-a", "email": "b@b.example", "name": "B's own"}, b["token"])[0] == 201
    assert gw("GET", "/api/users/user-a", token=a["token"])[2]["email"] == "u@a.example"


def test_a_tenant_header_naming_another_tenant_is_403(gw, two_tenants):
    a, b = two_tenants["a"], two_tenants["b"]
    status, _, body = gw("GET", "/api/users", token=b["token"], headers={"X-Tenant-Id": a["account"]["tenantId"]})
    assert status == 403 and "u@a.example" not in json.dumps(body)


def test_forged_and_tampered_tokens_are_401_problems(gw, two_tenants):
    a, b = two_tenants["a"], two_tenants["b"]
    header, payload, signature = b["token"].split(".")
    victim_payload = a["token"].split(".")[1]
    for forged in (f"{header}.{victim_payload}.{signature}", f"{header}.{payload}.{signature[:-4]}AAAA",
                   f"{header}.{payload}."):
        status, headers, body = gw("GET", "/api/users", token=forged)
        assert status == 401 and headers["Content-Type"] == "application/problem+json", body
        assert body["type"] == "/problems/unauthorized"


def test_a_portal_token_opens_no_api_key_route(gw, two_tenants):
    """A token carries no usage key: the routes that require an API key refuse it."""
    status, _, _ = gw("POST", "/v1/recommend", {"user_id": "x"}, two_tenants["a"]["token"])
    assert status == 401


def test_an_expired_token_is_401(gw, two_tenants):
    """Two hours on (moto's ID tokens live one hour), the same token is refused."""
    import time

    token = two_tenants["a"]["token"]
    assert gw("GET", "/api/users", token=token)[0] == 200
    sys.modules["fn_AuthorizerFunction"].verifier().clock = lambda: time.time() + 7200
    status, headers, body = gw("GET", "/api/users", token=token)
    assert status == 401 and headers["Content-Type"] == "application/problem+json", body


def test_an_inactive_user_gets_a_non_personalised_list_with_a_warning(gw, aws, api):
    """Given a trained tenant, when the portal marks a user with a history inactive, recommend serves
    that user the non-personalised list (as an unknown user's) and says why; reactivated, personal again."""
    from tests.integration.conftest import seed_tenant, train

    caller = aws.tenant("inactive")
    data = seed_tenant(api, caller, users=30, items=50, events=10)
    train(caller)
    user = data.interactions[0]["user_id"]
    token = login(gw, "ops@inactive.example", create_portal_admin(caller.tenant_id, "ops@inactive.example"))
    assert gw("POST", "/api/users", {"id": user, "email": "p@x.example", "name": "P"}, token)[0] == 201

    def served(user_id: str) -> tuple[list[str], set[str]]:
        status, _, body = api("POST", "/v1/recommend", caller=caller, body={"user_id": user_id, "limit": 5})
        assert status == 200, body
        return [i["id"] for i in body["items"]], {w["code"] for w in body.get("warnings", [])}

    personal, codes = served(user)
    assert "user_inactive" not in codes
    assert gw("PATCH", f"/api/users/{user}/toggle-status", token=token)[2]["isActive"] is False
    items, codes = served(user)
    assert "user_inactive" in codes and "unknown_user" not in codes
    assert items == served("never-seen-user")[0] != personal
    assert gw("PATCH", f"/api/users/{user}/toggle-status", token=token)[2]["isActive"] is True
    again, codes = served(user)
    assert again == personal and "user_inactive" not in codes


def test_an_inactive_users_events_are_not_trained_on(gw, aws, api):
    from tests.integration.conftest import seed_tenant, train

    caller = aws.tenant("untrained")
    data = seed_tenant(api, caller, users=20, items=40, events=8)
    trained = train(caller)["meta"]["users"]
    user = data.interactions[0]["user_id"]
    token = login(gw, "ops@untrained.example", create_portal_admin(caller.tenant_id, "ops@untrained.example"))
    assert gw("POST", "/api/users", {"id": user, "email": "p@x.example", "name": "P", "isActive": False},
              token)[0] == 201
    assert train(caller)["meta"]["users"] == trained - 1


def test_the_portal_isolation_tests_cover_every_portal_route():
    from local.template import routes

    portal = {(r.method, r.path) for r in routes() if not r.api_key_required and r.path.startswith(("/api/auth",
                                                                                                   "/auth/", "/api/users"))}
    assert portal == ISOLATION_COVERED
