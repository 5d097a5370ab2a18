"""The fault matrix: each AWS call of recommend, similar, interactions and items, failing with
throttling, an internal error or a read timeout (S3: SlowDown), as the SDK reports it after its
retries. Given a shop with a live model and a cold execution environment, when that one call fails,
then the request is served (a fallback list with a warning where the read path can do without
it), or answered 503 problem+json with Retry-After; never 500."""

from __future__ import annotations

import pytest

from tests.faults.conftest import use_warm_models
from tests.faults.matrix import ARTEFACT_CALLS, CASES, EXPECTED, OBSERVED, describe
from tests.faults.routes import ROUTES


@pytest.mark.parametrize("route", list(EXPECTED))
def test_the_matrix_lists_every_call_the_route_makes(shop, faults, route):
    method, path, kwargs = ROUTES[route](shop)
    calls = faults.record()
    status, _, body = shop.send(method, path, **kwargs)
    assert status < 300, body
    made = {f"{s} {o} {r}" for s, o, r in calls}
    assert made == {str(c) for c in EXPECTED[route]}


@pytest.mark.parametrize(("route", "call", "kind"), CASES, ids=[f"{r}-{c}-{k}".replace(" ", "-") for r, c, k in CASES])
def test_one_failing_call(shop, faults, warm_models, route, call, kind):
    if call not in ARTEFACT_CALLS:  # the model is loaded already (a warm environment): not downloaded again
        use_warm_models(warm_models)
    method, path, kwargs = ROUTES[route](shop)
    fault = faults.inject(call.service, call.operation, kind, resource=call.resource)
    status, headers, body = shop.send(method, path, **kwargs)
    OBSERVED[(route, call, kind)] = describe(status, headers, body)
    assert fault.injected >= 1
    expected = EXPECTED[route][call]
    assert status != 500, body
    if expected.kind == "unavailable":
        assert status == 503, body
        assert headers["Content-Type"] == "application/problem+json"
        assert body["type"].endswith("/service-unavailable") and headers["Retry-After"] == "1"
        return
    assert status in (200, 201, 204), body
    if route in ("recommend", "similar"):
        assert body["items"], "a fallback list, not an empty one"
    codes = [w["code"] for w in body.get("warnings") or []] if isinstance(body, dict) else []
    if expected.kind == "fallback":
        assert expected.warning in codes, body


@pytest.mark.parametrize(("route", "operation", "table"), [("recommend", "BatchGetItem", "Items"),
                                                           ("similar", "BatchGetItem", "Items"),
                                                           ("interactions", "BatchGetItem", "Interactions")])
# The route's events carry ids, so they go in a transaction with their claims (ADR 0002), which has no
# unprocessed items; the batch writes of events without ids: tests/integration/events/test_pending_claims.py
def test_unprocessed_items_are_retried_not_dropped(shop, faults, warm_models, route, operation, table):
    """DynamoDB answers a batch call with every item unprocessed once (throttled partitions): the
    store retries them, and the request is answered as if nothing happened."""
    use_warm_models(warm_models)
    method, path, kwargs = ROUTES[route](shop)
    if table == "Items":  # the catalogue comes from the model's snapshot; its batch read is the fallback
        faults.inject("dynamodb", "Query", "timeout", resource="Items")  # when the change record is unread
    fault = faults.inject("dynamodb", operation, "unprocessed", resource=table, nth=1)
    status, _, body = shop.send(method, path, **kwargs)
    assert fault.injected == 1 and status in (200, 201), body
    if route == "interactions":
        assert body["accepted"] == 2
    else:
        assert body["items"] and not body["warnings"], body


@pytest.mark.parametrize("route", ["recommend", "similar"])
def test_a_warm_environment_keeps_its_model_while_the_registry_cannot_be_read(shop, faults, route, tmp_path):
    """The registry check that notices a new live version fails: the version already loaded keeps
    serving (no fallback, no warning), and the next request asks the registry again."""
    from recengine.models.serving import ModelCache
    from recengine.runtime import runtime

    rt = runtime()
    cache = ModelCache(rt.registry, rt.artefacts, str(tmp_path / "models"), refresh_s=0.0)  # checks every time
    assert cache.get(shop.caller.tenant_id) is not None
    use_warm_models(cache)
    method, path, kwargs = ROUTES[route](shop)
    fault = faults.inject("dynamodb", "GetItem", "timeout", resource="Models")
    status, _, body = shop.send(method, path, **kwargs)
    assert fault.injected == 1 and status == 200 and body["items"] and body["warnings"] == [], body
    faults.clear()
    assert shop.send(method, path, **ROUTES[route](shop)[2])[0] == 200


@pytest.mark.parametrize(("route", "function"), [("recommend", "RecommendFunction"), ("similar", "SimilarFunction")])
def test_the_fallbacks_calls_are_granted_to_the_function(shop, faults, route, function):
    """moto allows every call; IAM would refuse a fallback its role does not cover (local/iam.py):
    with the model unavailable, each call the popular-items fallback makes is granted."""
    from local.iam import allowed, function_statements, names_from_environment, needs

    method, path, kwargs = ROUTES[route](shop)
    faults.inject("s3", "GetObject", "slowdown", resource="models")  # the version's pack (or its files)
    calls = faults.record()
    status, _, body = shop.send(method, path, **kwargs)
    assert status == 200 and "model_unavailable" in [w["code"] for w in body["warnings"]]
    assert ("dynamodb", "Query", "Interactions/by_tenant") in calls  # the tenant's latest events
    statements, names = function_statements(function), names_from_environment(shop.env)
    refused = [(s, o, need.action, need.resource) for (s, o, _), params in zip(calls, faults.params)
               for need in needs(s, o, params, names) if not allowed(statements, need)]
    assert refused == []


@pytest.mark.parametrize("route", ["recommend", "similar"])
def test_nothing_to_serve_is_a_503_with_retry_after(shop, faults, route):
    """The model cannot be loaded and the popular items cannot be read either: nothing can be
    served, so the answer is a retryable 503 problem (not a 500, not an empty 200)."""
    method, path, kwargs = ROUTES[route](shop)
    faults.inject("s3", "GetObject", "slowdown", resource="models")
    faults.inject("dynamodb", "Query", "throttling", resource="Interactions/by_tenant")
    status, headers, body = shop.send(method, path, **kwargs)
    assert status == 503 and headers["Retry-After"] == "1", body
    assert headers["Content-Type"] == "application/problem+json" and body["type"].endswith("/service-unavailable")


def _shard_full() -> Exception:
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "injected"},
                        "CancellationReasons": [{"Code": "None"}, {"Code": "ConditionalCheckFailed"}]},
                       "TransactWriteItems")


@pytest.mark.parametrize("kind", ["throttling", "internal", "timeout"])
def test_the_meter_never_fails_a_servable_request(shop, faults, warm_models, kind):
    """The meter's first shard is full, and reading every shard's room then fails: the call is
    served and its count deferred, as when the meter is throttled."""
    use_warm_models(warm_models)
    method, path, kwargs = ROUTES["recommend"](shop)
    faults.inject("dynamodb", "TransactWriteItems", resource="Usage", nth=1, raise_=_shard_full())
    rooms = faults.inject("dynamodb", "BatchGetItem", kind, resource="Usage")
    status, _, body = shop.send(method, path, **kwargs)
    assert rooms.injected == 1 and status == 200 and body["items"], body


@pytest.mark.parametrize(("code", "status"), [("ThrottlingException", 400),
                                              ("ProvisionedThroughputExceededException", 400),
                                              ("InternalServerError", 500)])
def test_a_transient_fault_is_absorbed_by_the_sdks_retries(shop, faults, warm_models, code, status):
    """DynamoDB throttles (or fails) the history read once, on the wire: the clients' retry policy
    (recengine.aws.clients) retries it, and the caller sees an ordinary answer, without a warning."""
    use_warm_models(warm_models)
    method, path, kwargs = ROUTES["recommend"](shop)
    state = faults.transient("Query", code, status)
    answer = shop.send(method, path, **kwargs)
    assert state["answered"] == 1 and answer[0] == 200 and answer[2]["warnings"] == [], answer
