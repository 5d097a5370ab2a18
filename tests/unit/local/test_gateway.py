"""The local gateway behaves like API Gateway for keys, throttling and quotas."""

from __future__ import annotations

import json

from local.gateway import Gateway, KeyState, TokenBucket, proxy_event
from local.template import routes
from tests.fakes import StaticKeys


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_token_bucket_allows_the_burst_then_the_rate():
    clock = FakeClock()
    bucket = TokenBucket(rate=2, burst=3, clock=clock)
    assert [bucket.take() for _ in range(3)] == [0, 0, 0]
    assert bucket.take() == 0.5
    clock.now = 0.5
    assert bucket.take() == 0


def _gateway(quota=1000, rate=1000.0, burst=1000):
    # The bucket's clock stands still: what the functions behind it take (the first call imports one,
    # about a second on a loaded machine) must not refill it between the calls a test counts.
    state = KeyState("kid", TokenBucket(rate, burst, clock=FakeClock()), quota, "MONTH")
    return Gateway(keys=StaticKeys({"good": state}))


def test_missing_or_unknown_key_is_401_before_the_function_runs():
    gw = _gateway()
    for headers in ({}, {"x-api-key": "bad"}):
        status, hdrs, _ = gw.handle("POST", "/v1/recommend", headers, b"{}")
        assert status == 401 and hdrs["Content-Type"] == "application/problem+json"


def test_unknown_route_is_404_problem():
    status, _, body = _gateway().handle("GET", "/nowhere", {}, b"")
    assert status == 404 and b"/problems/not-found" in body


def test_throttle_answers_429_with_retry_after():
    gw = _gateway(rate=1.0, burst=2)
    gw.handle("GET", "/v1/billing/usage", {"x-api-key": "good"}, b"")  # noqa: the function itself may 401
    gw.handle("GET", "/v1/billing/usage", {"x-api-key": "good"}, b"")
    status, headers, body = gw.handle("GET", "/v1/billing/usage", {"x-api-key": "good"}, b"")
    assert status == 429 and int(headers["Retry-After"]) >= 1 and b"rate-limited" in body


def test_quota_answers_429_until_the_period_ends():
    gw = _gateway(quota=1)
    gw.handle("GET", "/v1/billing/usage", {"x-api-key": "good"}, b"")
    status, headers, body = gw.handle("GET", "/v1/billing/usage", {"x-api-key": "good"}, b"")
    assert status == 429 and b"quota-exceeded" in body and int(headers["Retry-After"]) > 0


def test_proxy_event_carries_key_id_path_parameters_and_query():
    route = next(r for r in routes() if r.path == "/v1/items/{item_id}" and r.method == "GET")
    event = proxy_event(route, "GET", "/v1/items/a%20b", {"x-api-key": "k"}, [("x", "1"), ("x", "2")], b"",
                        {"item_id": "a%20b"}, "k", "kid", "127.0.0.1", "api")
    assert event["requestContext"]["identity"]["apiKeyId"] == "kid"
    assert event["pathParameters"] == {"item_id": "a%20b"}
    assert event["queryStringParameters"] == {"x": "2"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"]}
    assert event["resource"] == "/v1/items/{item_id}"


def test_the_key_may_come_as_a_bearer_token_through_the_authorizer():
    gw = _gateway(rate=1.0, burst=1)
    # The bearer key reaches the usage plan: a second call in the same second is throttled.
    assert gw.handle("GET", "/v1/billing/usage", {"Authorization": "Bearer good"}, b"")[0] != 401
    assert gw.handle("GET", "/v1/billing/usage", {"authorization": "bearer good"}, b"")[0] == 429
    for headers in ({"Authorization": "Bearer bad"}, {"Authorization": "Basic good"}, {"Authorization": "Bearer "}):
        assert gw.handle("GET", "/v1/billing/usage", headers, b"")[0] == 401


def test_public_routes_skip_the_authorizer():
    route = next(r for r in routes() if r.path == "/health")
    assert route.authorizer is None and not route.api_key_required
    assert all(r.authorizer is not None for r in routes() if r.api_key_required)


def _capturing_gateway(*values: str) -> tuple[Gateway, list[dict]]:
    """A gateway whose billing function only records the events it is sent."""
    state = KeyState("kid", TokenBucket(1000.0, 1000), 1000, "MONTH")
    gw = Gateway(keys=StaticKeys({v: state for v in values}))
    seen: list[dict] = []
    billing = next(r for r in gw.routes if r.path == "/v1/billing/usage").function
    gw._handlers[billing] = lambda event, _context: seen.append(event) or {"statusCode": 200, "body": "{}"}
    return gw, seen


def test_the_authorizers_context_reaches_the_function_in_request_context_authorizer():
    gw, seen = _capturing_gateway("rk_read_good-key", "legacy-good-key")
    assert gw.handle("GET", "/v1/billing/usage", {"x-api-key": "rk_read_good-key"}, b"")[0] == 200
    assert gw.handle("GET", "/v1/billing/usage", {"Authorization": "Bearer legacy-good-key"}, b"")[0] == 200
    assert gw.handle("GET", "/v1/billing/plans", {}, b"")[0] == 200
    read, legacy, public = (event["requestContext"] for event in seen)
    assert read["authorizer"]["role"] == "read" and read["authorizer"]["principalId"] == "api-key"
    assert isinstance(read["authorizer"]["integrationLatency"], int)
    assert legacy["authorizer"]["role"] == "admin"  # a key from before roles
    assert "authorizer" not in public  # no authorizer on a public route


def test_a_read_key_is_refused_an_admin_route_before_the_function_does_any_work():
    """No AWS here: the role guard answers before the tenant is looked up."""
    state = KeyState("kid", TokenBucket(1000.0, 1000), 1000, "MONTH")
    gw = Gateway(keys=StaticKeys({"rk_read_good-key": state}))
    status, headers, body = gw.handle("PUT", "/v1/billing/overage-cap",
                                      {"x-api-key": "rk_read_good-key", "Content-Type": "application/json"},
                                      b'{"cap_amount": 1}')
    problem = json.loads(body)
    assert status == 403 and problem["type"] == "/problems/insufficient-scope" and "admin" in problem["detail"]
    assert headers["Content-Type"] == "application/problem+json"


def test_a_method_the_path_lacks_is_405_with_allow_before_any_key_check():
    for method in ("PATCH", "PUT", "OPTIONS", "PROPFIND"):
        status, headers, body = _gateway().handle(method, "/v1/items", {}, b"")
        problem = json.loads(body)
        assert status == 405 and headers["Content-Type"] == "application/problem+json"
        assert headers["Allow"] == "GET, POST" and problem["type"] == "/problems/method-not-allowed"
        assert problem["status"] == 405 and method in problem["detail"]


def test_allow_lists_the_methods_of_the_matching_path_only():
    status, headers, _ = _gateway().handle("POST", "/v1/items/item-1", {}, b"")
    assert status == 405 and headers["Allow"] == "DELETE, GET"
    status, headers, _ = _gateway().handle("DELETE", "/v1/models/jobs/job-1", {}, b"")
    assert status == 405 and headers["Allow"] == "GET"


def test_an_unknown_path_stays_404_whatever_the_method():
    assert _gateway().handle("PATCH", "/nowhere", {}, b"")[0] == 404


def test_a_literal_resource_wins_over_a_path_variable_as_in_api_gateway():
    status, headers, _ = _gateway().handle("GET", "/v1/models/train", {}, b"")
    assert status == 405 and headers["Allow"] == "POST"  # not GET /v1/models/{model_id} with model_id=train


def test_two_functions_never_run_at_once_in_the_one_local_process():
    """Powertools' resolver keeps the current event on a class every function loaded here shares:
    overlapping invocations of two functions would read each other's request."""
    import threading
    import time

    gw = _gateway()
    active, overlaps = [0], []
    lock = threading.Lock()

    def handler(event, context):
        with lock:
            active[0] += 1
            overlaps.append(active[0])
        time.sleep(0.02)
        with lock:
            active[0] -= 1
        return {"statusCode": 200, "headers": {}, "body": "{}"}

    functions = {r.function: r for r in gw.routes}
    recommend = next(r for r in gw.routes if r.path == "/v1/recommend" and r.method == "POST")
    similar = next(r for r in gw.routes if r.path == "/v1/similar" and r.method == "POST")
    assert recommend.function != similar.function and set(functions) >= {recommend.function, similar.function}
    gw._handlers.update({recommend.function: handler, similar.function: handler})
    threads = [threading.Thread(target=gw.handle, args=("POST", path, {"x-api-key": "good"}, b"{}"))
               for path in ("/v1/recommend", "/v1/similar") * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(overlaps) == 8 and max(overlaps) == 1


def test_concurrent_first_requests_import_a_function_once_and_never_see_it_half_run(tmp_path):
    """The module is published only when its import is complete: a second request arriving during
    the first one's import waits, instead of finding no handler (a 401 from the authorizer)."""
    import threading

    from local.gateway import load_handler
    from local.template import Authorizer

    (tmp_path / "app.py").write_text("import time\nIMPORTS = globals().get('IMPORTS', 0) + 1\ntime.sleep(0.2)\n"
                                     "def handler(event, context):\n    return IMPORTS\n")
    fake = Authorizer(function=f"SlowImport{tmp_path.name}", code_uri=str(tmp_path), handler="app.handler",
                      supplies_api_key=False)
    got, errors = [], []

    def first_request():
        try:
            got.append(load_handler(fake)({}, None))
        except Exception as exc:  # noqa: BLE001 - what the gateway would have turned into a 401
            errors.append(exc)

    threads = [threading.Thread(target=first_request) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and got == [1, 1, 1, 1]


def test_the_authorizer_and_a_function_never_run_at_once():
    import threading
    import time

    from local import gateway as module

    gw = _gateway()
    active, overlaps = [0], []
    lock = threading.Lock()

    def busy():
        with lock:
            active[0] += 1
            overlaps.append(active[0])
        time.sleep(0.02)
        with lock:
            active[0] -= 1

    def handler(event, context):
        busy()
        return {"statusCode": 200, "headers": {}, "body": "{}"}

    def authorizer(event, context):
        busy()
        return {"principalId": "api-key", "usageIdentifierKey": "good", "context": {"role": "admin"},
                "policyDocument": {"Statement": [{"Effect": "Allow"}]}}

    route = next(r for r in gw.routes if r.path == "/v1/recommend" and r.method == "POST")
    assert route.authorizer is not None
    gw._handlers[route.function] = handler
    original = module.load_handler
    module.load_handler = lambda target: authorizer if target is route.authorizer else original(target)
    try:
        threads = [threading.Thread(target=gw.handle, args=("POST", "/v1/recommend", {"x-api-key": "good"}, b"{}"))
                   for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        module.load_handler = original
    assert len(overlaps) == 12 and max(overlaps) == 1
