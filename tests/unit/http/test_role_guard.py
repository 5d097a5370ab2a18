"""The role guard every function's resolver runs before the route: the authorizer's role against
the route's least role, 403 /problems/insufficient-scope below it, and refusal when in doubt."""

from __future__ import annotations

import json
import re

import pytest

from local.gateway import LambdaContext, proxy_event
from local.template import Route, routes
from recengine.http.app import Api
from recengine.tenancy.roles import PUBLIC, ROUTE_ROLES, Role

KEYED = [r for r in routes() if r.api_key_required]


def _app(extra: tuple[str, str] | None = None) -> Api:
    """An Api serving every template route (and `extra`) with a handler that answers 200."""
    app = Api()
    served = [(r.method, r.path) for r in routes()] + ([extra] if extra else [])
    for method, path in served:
        def answer(**_params):
            return app.json(200, {"served": True})

        app.route(re.sub(r"\{(\w+)\}", r"<\1>", path), method=method)(answer)
    return app


def _call(app: Api, route: Route, role: str | None = None, key_id: str | None = "kid", authorizer=True) -> tuple:
    params = {name: "x-1" for name in re.findall(r"\{(\w+)\}", route.path)}
    path = re.sub(r"\{\w+\}", "x-1", route.path)
    context = ({"principalId": "api-key", "integrationLatency": 1, **({"role": role} if role else {})}
               if authorizer else None)
    event = proxy_event(route, route.method, path, {"Content-Type": "application/json"}, [], b"{}", params,
                        "value" if key_id else None, key_id, "127.0.0.1", "api", context)
    result = app.resolve(event, LambdaContext("test"))
    return result["statusCode"], json.loads(result["body"] or "{}")


@pytest.fixture(scope="module")
def app():
    return _app()


@pytest.mark.parametrize("route", KEYED, ids=lambda r: f"{r.method} {r.path}")
@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_every_route_refuses_a_role_below_its_own_and_admits_the_others(app, route, role):
    needed = ROUTE_ROLES[(route.method, route.path)]
    status, body = _call(app, route, role.value)
    if role.allows(needed):
        assert status == 200 and body == {"served": True}
    else:
        assert status == 403 and body["type"] == "/problems/insufficient-scope"
        assert f"the {needed.value} role" in body["detail"] and f"its role is {role.value}" in body["detail"]
        assert body["status"] == 403 and body["instance"]


@pytest.mark.parametrize("route", KEYED, ids=lambda r: f"{r.method} {r.path}")
def test_a_keyed_request_without_a_role_is_refused(app, route):
    for kwargs in ({"role": None}, {"role": "root"}, {"role": "Admin"}, {"authorizer": False}):
        status, body = _call(app, route, **kwargs)
        assert status == 403 and body["type"] == "/problems/insufficient-scope", kwargs


def test_a_request_without_a_key_is_unauthorized(app):
    route = next(r for r in KEYED if r.path == "/v1/recommend")
    status, body = _call(app, route, "admin", key_id=None)
    assert status == 401 and body["type"] == "/problems/unauthorized"


def test_public_routes_need_no_key_and_no_role(app):
    public = [r for r in routes() if ROUTE_ROLES[(r.method, r.path)] is PUBLIC]
    assert public
    for route in public:
        assert _call(app, route, key_id=None, authorizer=False) == (200, {"served": True})


def test_a_route_missing_from_the_table_is_refused_even_to_admin():
    route = Route("Fn", "functions/x/", "app.lambda_handler", "POST", "/v1/secret", True)
    status, body = _call(_app(extra=("POST", "/v1/secret")), route, "admin")
    assert status == 403 and body["type"] == "/problems/insufficient-scope" and "/v1/secret" in body["detail"]


def test_an_unknown_path_is_still_a_404(app):
    route = Route("Fn", "functions/x/", "app.lambda_handler", "GET", "/v1/nowhere", True)
    status, body = _call(app, route, "read")
    assert status == 404 and body["type"] == "/problems/not-found"
