"""The local gateway enforces the template's WAF rate rules (local/ratelimit.py): 60 requests a
minute per client IP on the unauthenticated routes, 200 a minute per portal token; past them a 429
problem with Retry-After, before any route or key is looked at."""

from __future__ import annotations

import json

from local.gateway import Gateway
from local.ratelimit import RateLimits, rules_from_template
from tests.fakes import StaticKeys
from tests.unit.local.test_gateway import FakeClock

TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"  # JWT-shaped; the limit counts before any check
OTHER_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJiIn0.c2ln"


def _gateway(clock: FakeClock) -> Gateway:
    return Gateway(keys=StaticKeys({}), limits=RateLimits(clock=clock))


def test_the_rules_are_the_templates():
    rules = {rule.name: rule for rule in rules_from_template()}
    assert {name: (rule.limit, rule.window_s) for name, rule in rules.items()} == {
        "public-routes-per-ip": (60, 60.0), "portal-tokens-per-token": (200, 60.0),
        "key-or-token-routes-per-ip": (1000, 60.0)}


def test_an_ip_gets_60_public_requests_a_minute_then_a_429_problem_with_retry_after():
    clock = FakeClock()
    gw = _gateway(clock)
    for i in range(60):
        clock.now = i * 0.5
        assert gw.handle("GET", "/health", {}, b"", source_ip="198.51.100.7")[0] == 200, i
    status, headers, body = gw.handle("GET", "/health", {}, b"", source_ip="198.51.100.7")
    problem = json.loads(body)
    assert status == 429 and headers["Content-Type"] == "application/problem+json"
    assert problem["type"] == "/problems/rate-limited" and problem["status"] == 429
    assert headers["Retry-After"] == "31"  # the first request leaves the window at t = 60
    # the same limit counts every public route together, per IP; another IP is not affected
    assert gw.handle("POST", "/api/auth/login", {}, b"{}", source_ip="198.51.100.7")[0] == 429
    assert gw.handle("GET", "/health", {}, b"", source_ip="198.51.100.8")[0] == 200
    clock.now = 60.0  # the window slides: the oldest request is out of it
    assert gw.handle("GET", "/health", {}, b"", source_ip="198.51.100.7")[0] == 200
    assert gw.handle("GET", "/health", {}, b"", source_ip="198.51.100.7")[0] == 429


def test_keyed_routes_are_not_counted_per_ip():
    clock = FakeClock()
    limits = RateLimits(clock=clock)
    for _ in range(100):
        assert limits.check("/v1/recommend", {"x-api-key": "k"}, "198.51.100.7") is None
        assert limits.check("/v1/items/health", {"x-api-key": "k"}, "198.51.100.7") is None
    assert limits.check("/health", {}, "198.51.100.7") is None


def test_a_portal_token_gets_200_requests_a_minute_whatever_the_route():
    clock = FakeClock()
    limits = RateLimits(clock=clock)
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    for i in range(200):
        path = ("/api/users", "/api/billing/usage")[i % 2]
        assert limits.check(path, bearer, f"203.0.113.{i % 250}") is None, i
    refused = limits.check("/api/users", {"authorization": f"bearer {TOKEN}"}, "203.0.113.1")
    assert refused is not None and refused[0] == 429 and int(refused[1]["Retry-After"]) == 60
    assert limits.check("/api/users", {"Authorization": f"Bearer {OTHER_TOKEN}"}, "203.0.113.1") is None
    clock.now = 60.0
    assert limits.check("/api/users", bearer, "203.0.113.1") is None


def test_key_calls_on_the_key_or_token_routes_get_1000_a_minute_per_ip():
    """API Gateway checks no key there, so no usage plan counts them: the web ACL does, per IP."""
    clock = FakeClock()
    limits = RateLimits(clock=clock)
    for i in range(1000):
        headers = ({"Authorization": "Bearer rk_admin_abc"}, {"x-api-key": f"rk_read_{i}"})[i % 2]
        assert limits.check(("/api/billing/usage", "/api/billing/current")[i % 2], headers, "203.0.113.1") is None
    refused = limits.check("/api/billing/invoices", {"x-api-key": "rk_read_x"}, "203.0.113.1")
    assert refused is not None and refused[0] == 429
    assert limits.check("/api/billing/invoices", {"x-api-key": "rk_read_x"}, "203.0.113.2") is None
    # keyed routes stay with the usage plans; a portal token is counted per token, not here
    assert limits.check("/v1/billing/usage", {"x-api-key": "rk_read_x"}, "203.0.113.1") is None
    assert limits.check("/api/billing/usage", {"Authorization": f"Bearer {TOKEN}"}, "203.0.113.1") is None


def test_a_limited_request_never_reaches_the_function():
    clock = FakeClock()
    gw = _gateway(clock)
    calls = []
    gw._handlers["HealthFunction"] = lambda event, context: calls.append(event) or {"statusCode": 200, "body": ""}
    for _ in range(61):
        gw.handle("GET", "/health", {}, b"")
    assert len(calls) == 60
