"""The sharded usage meter against moto: a call counts once per API Gateway request id (also when
botocore retries a write whose answer was lost), a throttled meter serves the call and defers its
count, a failed call is taken back once, the cap applies to the next call whatever the shards hold,
and the shards, the usage report and the invoice agree."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from recengine.billing import metering, periods, service
from recengine.billing.metering import OverageBudgetExceededError
from recengine.billing.plans import PLANS
from recengine.billing.store import SHARDS, shard_key
from recengine.runtime import runtime
from tests.conftest import invoke
from tests.integration.conftest import route_event

GROWTH = PLANS["growth"]
PERIOD = "2026-03"  # billing_clock's month


def tenant_of(caller):
    return runtime().tenants.get_tenant(caller.tenant_id)


def used(tenant) -> int:
    return service.usage_report(runtime().usage, tenant)["requests_used"]


def transaction(request_dict: dict) -> list[dict]:
    body = request_dict.get("body") or b"{}"
    return json.loads(body if isinstance(body, (str, bytes)) else b"{}").get("TransactItems", [])


def is_count(request_dict: dict) -> bool:
    """The meter's counting transaction: a call marker and `ADD requests :one` on a shard."""
    return any(":one" in op.get("Update", {}).get("ExpressionAttributeValues", {}) for op in transaction(request_dict))


def is_take_back(request_dict: dict) -> bool:
    return any(":minus" in op.get("Update", {}).get("ExpressionAttributeValues", {})
               for op in transaction(request_dict))


def resend_once(client, match=lambda request_dict: True) -> dict:
    """botocore's own retry after a lost answer (a read timeout): the first matching write reaches
    DynamoDB and is applied, then the SDK sends the very same request again."""
    state = {"resent": 0}

    def needs_retry(attempts, request_dict, operation, **_):
        if operation.name in ("TransactWriteItems", "UpdateItem") and attempts == 1 and not state["resent"] \
                and match(request_dict):
            state["resent"] += 1
            return 0  # retry at once
        return None

    client.meta.events.register_first("needs-retry.dynamodb", needs_retry)
    return state


def fail_with(client, code: str, reason: str | None = None, match=is_count) -> dict:
    """Every matching transaction fails with `code` as it would after the SDK's retries (with a
    cancellation `reason` per item for TransactionCanceledException); nothing reaches moto."""
    state = {"failed": 0}

    def before_call(params, model, **_):
        if model.name != "TransactWriteItems" or not match(params):
            return None
        state["failed"] += 1
        parsed = {"Error": {"Code": code, "Message": f"injected {code}"}, "ResponseMetadata": {"HTTPStatusCode": 400}}
        if reason:
            parsed["CancellationReasons"] = [{"Code": "None"}, {"Code": reason}]
        return SimpleNamespace(status_code=400, headers={}), parsed

    event = "before-call.dynamodb.TransactWriteItems"
    client.meta.events.register_first(event, before_call)
    state["stop"] = lambda: client.meta.events.unregister(event, before_call)
    return state


@pytest.fixture
def metrics(monkeypatch):
    seen = []
    monkeypatch.setattr(metering, "count", lambda name, **dims: seen.append((name, dims)))
    return seen


def raw_rows(tenant_id: str, period: str) -> dict:
    """The meter's rows as stored: shard counts, deferred rows, and the period row's own count."""
    usage = runtime().usage
    shards = {r["tenant_id"]: r for r in usage.batch_get_rows(
        [{"tenant_id": shard_key(tenant_id, i), "period": period} for i in range(SHARDS)], consistent=True)}
    deferred = list(usage.query_rows(KeyConditionExpression="tenant_id = :t AND begins_with(period, :p)",
                                     ExpressionAttributeValues={":t": {"S": f"{tenant_id}#deferred"},
                                                                ":p": {"S": f"{period}#"}}))
    legacy = usage.get_row({"tenant_id": tenant_id, "period": period}) or {}
    return {"shards": [int(shards.get(shard_key(tenant_id, i), {}).get("requests", 0)) for i in range(SHARDS)],
            "deferred": deferred, "legacy": int(legacy.get("requests", 0))}


def set_shard(tenant_id: str, shard: int, requests: int, period: str = PERIOD) -> None:
    usage = runtime().usage
    usage.db.update_item(TableName=usage.name, Key={"tenant_id": {"S": shard_key(tenant_id, shard)},
                                                    "period": {"S": period}},
                         UpdateExpression="SET #r = :n", ExpressionAttributeNames={"#r": "requests"},
                         ExpressionAttributeValues={":n": {"N": str(requests)}})


# ------------------------------------------------------------------ once per request id
def test_a_write_botocore_resends_after_its_answer_was_lost_counts_once(aws, billing_clock):
    tenant, usage = tenant_of(aws.tenant()), runtime().usage
    resent = resend_once(usage.db)
    mark = metering.meter_call(usage, tenant, "gw-request-1")
    assert resent["resent"] == 1 and mark.owned  # the retry found this call's own marker
    assert used(tenant) == 1


def test_the_same_request_id_counts_once_and_another_id_counts_again(aws, billing_clock):
    tenant, usage = tenant_of(aws.tenant()), runtime().usage
    first = metering.meter_call(usage, tenant, "gw-request-1")
    again = metering.meter_call(usage, tenant, "gw-request-1")
    assert (again.shard, again.owned) == (first.shard, False) and used(tenant) == 1
    metering.meter_call(usage, tenant, "gw-request-2")
    assert used(tenant) == 2


@pytest.mark.parametrize("path, body", [("/v1/recommend", {"user_id": "u1", "limit": 3}),
                                        ("/v1/interactions", {"user_id": "u1", "item_id": "a", "type": "view"})])
def test_through_a_handler_one_gateway_request_counts_once(aws, billing_clock, path, body):
    caller = aws.tenant()
    event = route_event("POST", path, caller=caller, body=body)
    assert invoke("POST", path, event)[0] in (200, 201)
    assert invoke("POST", path, event)[0] in (200, 201)  # the same API Gateway request, delivered again
    assert used(tenant_of(caller)) == 1
    resend_once(runtime().usage.db, match=is_count)
    assert invoke("POST", path, route_event("POST", path, caller=caller, body=body))[0] in (200, 201)
    assert used(tenant_of(caller)) == 2


def test_a_caller_chosen_x_request_id_does_not_merge_calls(aws, billing_clock):
    caller = aws.tenant()
    for _ in range(3):
        event = route_event("POST", "/v1/recommend", caller=caller, body={"user_id": "u1", "limit": 3})
        event["headers"]["X-Request-Id"] = "always-the-same"
        event["multiValueHeaders"]["X-Request-Id"] = ["always-the-same"]
        status, headers, _ = invoke("POST", "/v1/recommend", event)
        assert status == 200 and headers["X-Request-Id"] == "always-the-same"
    assert used(tenant_of(caller)) == 3


def test_a_failed_call_is_taken_back_once_even_when_the_take_back_is_resent(aws, billing_clock):
    tenant, usage = tenant_of(aws.tenant()), runtime().usage
    metering.meter_call(usage, tenant, "kept")
    resent = resend_once(usage.db, match=is_take_back)
    with pytest.raises(RuntimeError):
        with metering.metered(usage, tenant, "fails"):
            raise RuntimeError("the work failed")
    assert resent["resent"] == 1 and used(tenant) == 1
    assert sum(raw_rows(tenant.tenant_id, PERIOD)["shards"]) == 1
    metering.meter_call(usage, tenant, "fails")  # taken back, so the id may count again
    assert used(tenant) == 2


# ------------------------------------------------------------------ a throttled meter
@pytest.mark.parametrize("code, reason", [
    ("ProvisionedThroughputExceededException", None), ("ThrottlingException", None), ("RequestLimitExceeded", None),
    ("TransactionCanceledException", "ThrottlingError"), ("TransactionCanceledException", "TransactionConflict")])
def test_a_throttled_meter_serves_the_call_and_the_report_counts_it(aws, billing_clock, metrics, caplog, code, reason):
    caller = aws.tenant()
    tenant, usage = tenant_of(caller), runtime().usage
    failing = fail_with(usage.db, code, reason)
    event = route_event("POST", "/v1/recommend", caller=caller, body={"user_id": "u1", "limit": 3})
    status, _, body = invoke("POST", "/v1/recommend", event)
    assert status == 200 and body["items"] is not None and failing["failed"] >= 1
    rows = raw_rows(caller.tenant_id, PERIOD)
    request_id = event["requestContext"]["requestId"]
    assert sum(rows["shards"]) == 0 and [r["period"] for r in rows["deferred"]] == [f"{PERIOD}#{request_id}"]
    expected_reason = reason or code
    assert ("MeterDeferred", {"reason": expected_reason, "stored": "true"}) in metrics
    log = [r for r in caplog.records if "count deferred" in r.getMessage()]
    assert log and log[0].request_id == request_id and log[0].stored is True and log[0].levelname == "WARNING"
    assert used(tenant) == 1

    failing["stop"]()
    metering.meter_call(usage, tenant, request_id)  # the count the SDK gave up on, landing late
    assert used(tenant) == 1 and sum(raw_rows(caller.tenant_id, PERIOD)["shards"]) == 0
    billing_clock.set_month(2026, 4)
    assert service.invoices(usage, tenant)[0]["requests"] == 1


def test_when_the_deferred_count_cannot_be_written_the_call_is_served_and_logged(aws, billing_clock, metrics, caplog):
    caller = aws.tenant()
    fail_with(runtime().usage.db, "ProvisionedThroughputExceededException", match=lambda params: True)
    event = route_event("POST", "/v1/recommend", caller=caller, body={"user_id": "u1", "limit": 3})
    assert invoke("POST", "/v1/recommend", event)[0] == 200
    assert ("MeterDeferred", {"reason": "ProvisionedThroughputExceededException", "stored": "false"}) in metrics
    log = [r for r in caplog.records if "count deferred" in r.getMessage()]
    assert log[0].levelname == "ERROR" and log[0].request_id == event["requestContext"]["requestId"]


def test_a_store_error_other_than_throttling_still_answers_503(aws, billing_clock):
    caller = aws.tenant()
    fail_with(runtime().usage.db, "ValidationException")
    status, _, problem = invoke("POST", "/v1/recommend", route_event("POST", "/v1/recommend", caller=caller,
                                                                    body={"user_id": "u1", "limit": 3}))
    assert status == 503 and problem["type"] == "/problems/service-unavailable"
    assert used(tenant_of(caller)) == 0


# ------------------------------------------------------------------ shards and the cap
def test_the_cap_applies_to_the_next_call_however_unevenly_the_shards_are_filled(aws, billing_clock):
    tenant, usage = tenant_of(aws.tenant()), runtime().usage
    set_shard(tenant.tenant_id, 0, GROWTH.request_limit + 990)  # one shard holds it all; the others are empty
    service.set_overage_cap(usage, tenant, 0)  # below what is spent: stops at once
    with pytest.raises(OverageBudgetExceededError):
        metering.meter_call(usage, tenant, "refused")
    service.set_overage_cap(usage, tenant, 2.0)  # 1,000 over the included: exactly 10 more
    admitted = 0
    for n in range(15):
        try:
            metering.meter_call(usage, tenant, f"r{n}")
            admitted += 1
        except OverageBudgetExceededError:
            pass
    assert admitted == 10 and used(tenant) == GROWTH.request_limit + 1_000
    assert sum(1 for n in raw_rows(tenant.tenant_id, PERIOD)["shards"] if n) > 1  # spread over shards


def test_shard_totals_equal_the_usage_report_and_the_invoice(aws, billing_clock):
    tenant, usage = tenant_of(aws.tenant()), runtime().usage
    billing_clock.set_month(2026, 2)
    usage.db.update_item(TableName=usage.name, Key={"tenant_id": {"S": tenant.tenant_id}, "period": {"S": "2026-02"}},
                         UpdateExpression="SET #r = :n", ExpressionAttributeNames={"#r": "requests"},
                         ExpressionAttributeValues={":n": {"N": "7"}})  # a period row from before the shards
    for n in range(40):
        metering.meter_call(usage, tenant, f"call-{n}")
    failing = fail_with(usage.db, "ThrottlingException")
    metering.meter_call(usage, tenant, "deferred-1")
    failing["stop"]()
    with pytest.raises(ValueError):
        with metering.metered(usage, tenant, "taken-back"):
            raise ValueError("failed")

    rows = raw_rows(tenant.tenant_id, "2026-02")
    stored = sum(rows["shards"]) + len(rows["deferred"]) + rows["legacy"]
    assert sum(1 for n in rows["shards"] if n) > 1 and (len(rows["deferred"]), rows["legacy"]) == (1, 7)
    report = service.usage_report(usage, tenant)
    assert stored == report["requests_used"] == 7 + 40 + 1
    assert report["last_request_at"] == periods.iso(billing_clock())
    billing_clock.set_month(2026, 3)
    invoice = service.invoices(usage, tenant)[0]
    assert invoice["period"] == "2026-02" and invoice["requests"] == stored and invoice["plan"] == "growth"
