"""Key roles: one table of route -> least role covering every template route, the order of the
roles, and the role a key's value carries (older keys without a prefix are admin keys)."""

from __future__ import annotations

import secrets

import pytest

from local.template import routes
from recengine.tenancy.roles import (PUBLIC, ROUTE_ROLES, Role, UnlistedRouteError, new_key_value, parse_role,
                                     required_role, role_of_key)


def test_the_table_has_exactly_the_template_routes():
    template = {(r.method, r.path) for r in routes()}
    assert template - set(ROUTE_ROLES) == set(), "routes without a role: nobody may call them"
    assert set(ROUTE_ROLES) - template == set(), "roles for routes the template lacks"


def test_only_the_routes_without_key_or_authorizer_are_public():
    """Keyless routes behind the authorizer are the portal's (a verified token, which has a role)."""
    public = {(r.method, r.path) for r in routes() if not r.api_key_required and r.authorizer is None}
    assert {route for route, role in ROUTE_ROLES.items() if role is PUBLIC} == public
    assert public == {("GET", "/health"), ("GET", "/v1/billing/plans"), ("GET", "/api/billing/plans"),
                      ("POST", "/api/auth/register"),
                      ("POST", "/api/auth/login"), ("POST", "/auth/v1/token")}


def test_a_read_key_may_serve_and_read_but_change_nothing():
    reads = {route for route, role in ROUTE_ROLES.items() if role is Role.READ}
    # every GET but the lists of the tenant's end users (their e-mails) and of all their stored
    # recommendations, and the portal's analytics: admins only, as the seed has it
    admin_reads = {("GET", "/api/users"), ("GET", "/api/recommendations"), ("GET", "/api/analytics/stats"),
                   ("GET", "/api/analytics/data")}
    assert {(m, p) for m, p in ROUTE_ROLES if m == "GET" and ROUTE_ROLES[(m, p)] is not PUBLIC} - admin_reads <= reads
    assert all(ROUTE_ROLES[route] is Role.ADMIN for route in admin_reads)
    assert {("POST", "/v1/recommend"), ("POST", "/api/v1/recommend"), ("POST", "/v1/recommend/validate"),
            ("POST", "/v1/similar"), ("POST", "/api/v1/similar")} <= reads
    assert {m for m, _ in reads} == {"GET", "POST"}
    writes = {route for route, role in ROUTE_ROLES.items() if role is Role.WRITE}
    assert writes == {("POST", "/v1/interactions"), ("POST", "/api/v1/interactions"), ("POST", "/v1/items"),
                      ("POST", "/api/v1/respond")}


@pytest.mark.parametrize("route", [("DELETE", "/v1/items/{item_id}"), ("POST", "/v1/models/{model_id}/promote"),
                                   ("POST", "/v1/models/{model_id}/rollback"), ("POST", "/v1/models/train"),
                                   ("POST", "/v1/recommendations/generate"), ("PUT", "/v1/billing/overage-cap"),
                                   ("POST", "/v1/billing/checkout")])
def test_deletes_models_training_batches_and_billing_changes_need_admin(route):
    assert required_role(*route) is Role.ADMIN


def test_a_route_missing_from_the_table_is_refused():
    with pytest.raises(UnlistedRouteError, match="POST /v1/secret"):
        required_role("post", "/v1/secret")


def test_roles_are_ordered_read_write_admin():
    assert [r.value for r in Role] == ["read", "write", "admin"]
    assert Role.ADMIN.allows(Role.WRITE) and Role.ADMIN.allows(Role.READ) and Role.WRITE.allows(Role.READ)
    assert not Role.READ.allows(Role.WRITE) and not Role.WRITE.allows(Role.ADMIN) and Role.READ.allows(Role.READ)


@pytest.mark.parametrize("role", list(Role))
def test_a_new_key_carries_its_role_in_its_value(role):
    value = new_key_value(role)
    assert value.startswith(f"rk_{role.value}_") and len(value) >= len(f"rk_{role.value}_") + 40
    assert role_of_key(value) is role
    assert new_key_value(role) != value


def test_a_key_without_a_prefix_is_an_older_admin_key():
    for _ in range(200):
        legacy = secrets.token_urlsafe(30)  # how keys were made before roles
        if not legacy.startswith("rk_"):
            assert role_of_key(legacy) is Role.ADMIN
    assert role_of_key("k4nM3NXzq_read_x") is Role.ADMIN


@pytest.mark.parametrize("value", ["rk_root_abc", "rk_readonly_abc", "rk_read", "rk_", "rk_Admin_abc"])
def test_a_prefixed_key_with_an_unknown_role_carries_no_role(value):
    assert role_of_key(value) is None


@pytest.mark.parametrize("claim,role", [("read", Role.READ), ("write", Role.WRITE), ("admin", Role.ADMIN),
                                        ("ADMIN", None), ("root", None), ("", None), (None, None), (3, None)])
def test_role_claims_are_parsed_strictly(claim, role):
    assert parse_role(claim) is role
