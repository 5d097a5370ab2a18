"""Fixtures for the integration tests: tenants seeded with generated data through the handlers and
trained, a caller for any template route, a movable billing clock, direct access to usage
counters, and moto with DynamoDB's item atomicity."""

from __future__ import annotations

import calendar
import json

import pytest

from local.demo import generate
from local.gateway import proxy_event
from local.template import routes, stage_name
from recengine.engine.als import ALSParams
from recengine.engine.params import TrainParams
from recengine.models.training import train_tenant
from recengine.runtime import runtime
from tests.conftest import Caller, authorizer_context, invoke

_ROUTES = {(r.method, r.path): r for r in routes()}


def route_event(method: str, path: str, *, caller: Caller | None = None, body=None, query: dict | None = None,
                path_params: dict | None = None, headers: dict | None = None) -> dict:
    """A REST proxy event for any route in template.yaml, built the way the local gateway builds them;
    the caller's role (admin unless it says otherwise) is in `requestContext.authorizer`."""
    route = _ROUTES[(method, path)]
    concrete = path
    for k, v in (path_params or {}).items():
        concrete = concrete.replace("{" + k + "}", v)
    headers = {"Accept": "application/json", "User-Agent": "pytest", **(headers or {})}
    if body is not None:
        headers["Content-Type"] = "application/json"
    raw = json.dumps(body).encode() if body is not None else b""
    if caller is not None and not route.api_key_required and route.authorizer is not None:
        # A route that takes a key or a portal token: API Gateway checks no key there (no key id in the
        # event); the authorizer's context rides along and the function validates the value itself.
        assert caller.key_value, "this route needs the caller's key value (aws.tenant() records it)"
        return proxy_event(route, method, concrete, {**headers, "x-api-key": caller.key_value},
                           list((query or {}).items()), raw, path_params or {}, None, None, "203.0.113.10",
                           stage_name(), authorizer_context(caller))
    return proxy_event(route, method, concrete, headers, list((query or {}).items()), raw, path_params or {},
                       "example-key-value" if caller else None, caller.api_key_id if caller else None,
                       "203.0.113.10", stage_name(), authorizer_context(caller) if route.api_key_required else None)


@pytest.fixture
def api():
    """api(method, path, caller=..., body=..., query=..., path_params=..., headers=...) -> (status, headers, body)."""

    def _api(method: str, path: str, **kwargs):
        return invoke(method, path, route_event(method, path, **kwargs))

    return _api


class Clock:
    """The billing clock (epoch seconds), settable to any UTC month."""

    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def set_month(self, year: int, month: int, day: int = 15) -> None:
        self.now = float(calendar.timegm((year, month, day, 12, 0, 0)))


@pytest.fixture
def billing_clock(monkeypatch):
    from recengine.billing import periods as billing

    clock = Clock(float(calendar.timegm((2026, 3, 15, 12, 0, 0))))
    monkeypatch.setattr(billing, "clock", clock)
    return clock


def set_requests(tenant_id: str, period: str, requests: int) -> None:
    """Puts a tenant's count for a period straight to `requests` (to reach the overage quickly),
    spread over the meter's shards as calls fill them: the room left (share minus count) is split
    evenly, so the period admits exactly allowance - requests more calls (none past it)."""
    from recengine.billing import periods
    from recengine.billing.store import SHARDS, shard_key, shares
    from recengine.runtime import runtime

    usage = runtime().usage
    plan = periods.plan_of(runtime().tenants.get_tenant(tenant_id))
    defaults = shares(periods.allowance(plan, plan.default_overage_cap))
    room = usage.shard_room(tenant_id, period, defaults)
    counts = {r["tenant_id"]: int(r.get("requests", 0)) for r in usage.batch_get_rows(
        [{"tenant_id": shard_key(tenant_id, i), "period": period} for i in range(SHARDS)], consistent=True)}
    capacity = [room[i] + counts.get(shard_key(tenant_id, i), 0) for i in range(SHARDS)]
    if requests <= sum(capacity):
        target = [c - r for c, r in zip(capacity, shares(sum(capacity) - requests))]
    else:
        target = [c + extra for c, extra in zip(capacity, shares(requests - sum(capacity)))]
    assert sum(target) == requests and min(target) >= 0
    for i, n in enumerate(target):
        usage.db.update_item(TableName=usage.name, Key={"tenant_id": {"S": shard_key(tenant_id, i)},
                                                        "period": {"S": period}},
                             UpdateExpression="SET #r = :n", ExpressionAttributeNames={"#r": "requests"},
                             ExpressionAttributeValues={":n": {"N": str(n)}})


@pytest.fixture
def atomic_item_writes():
    """DynamoDB applies each write atomically; moto does not under threads (local/moto_atomic.py):
    serialised here, and its transactions made O(1) in the table's size."""
    from local.moto_atomic import atomic_item_writes, item_scoped_rollback, partition_scoped_queries

    with item_scoped_rollback(), atomic_item_writes(), partition_scoped_queries():
        yield


# ------------------------------------------------------------------ seeded and trained tenants
FAST = TrainParams(als=ALSParams(factors=16, iterations=4), ease=None, w_ease=0.0)


def seed_tenant(api, caller, users=40, items=60, events=10, seed=5):
    """A small generated catalogue and history, sent through the handlers."""
    data = generate(n_users=users, n_items=items, events_per_user=events, seed=seed)
    assert api("POST", "/v1/items", caller=caller, body={"items": data.items})[0] == 200
    for start in range(0, len(data.interactions), 500):
        status, _, body = api("POST", "/v1/interactions", caller=caller,
                              body={"interactions": data.interactions[start:start + 500]})
        assert status == 201, body
    return data


def train(caller, *, policy=None, params=FAST):
    """A forced training with small fixed hyper-parameters (no tuning): fast and deterministic."""
    c = runtime()
    return train_tenant(c.training, caller.tenant_id,
                        force=True, params=params, policy=policy)


def seed_shop(call, caller, users=60, items=160, events=15, seed=3):
    """A generated catalogue and history sent through the items and interactions handlers."""
    data = generate(n_users=users, n_items=items, events_per_user=events, seed=seed)
    for start in range(0, len(data.items), 500):
        status, _, _ = call("POST", "/v1/items", caller=caller, body={"items": data.items[start:start + 500]})
        assert status == 200
    for start in range(0, len(data.interactions), 500):
        status, _, body = call("POST", "/v1/interactions", caller=caller,
                               body={"interactions": data.interactions[start:start + 500]})
        assert status in (200, 201), body
    return data


def train_shop(caller, force=False):
    c = runtime()
    return train_tenant(c.training, caller.tenant_id, force=force)


@pytest.fixture
def trained_shop(aws, call):
    """A shop with a catalogue, history and a model trained with the defaults (tuning included)."""
    caller = aws.tenant("shop")
    data = seed_shop(call, caller)
    record = train_shop(caller)
    return caller, data, record


def drain_training_queue(aws) -> int:
    """Runs every message waiting on the training queue through the train function, as the event
    source (or the local stack's worker) would; returns how many it ran."""
    from local.template import queue_consumers
    from local.worker import QueuePoller

    consumer = next(c for c in queue_consumers() if c.function == "TrainFunction")
    poller = QueuePoller(consumer, aws.env["TRAIN_QUEUE_URL"], stop=None)
    total = 0
    while (handled := poller.poll_once(wait_s=0)):
        total += handled
    return total


def drain_erasure_queue(aws) -> int:
    """Runs every message waiting on the erasure queue through the user erasure worker, as its event
    source (or the local stack's worker) would; returns how many it ran."""
    from local.template import queue_consumers
    from local.worker import QueuePoller

    consumer = next(c for c in queue_consumers() if c.function == "UserErasureFunction")
    poller = QueuePoller(consumer, aws.env["ERASURE_QUEUE_URL"], stop=None)
    total = 0
    while (handled := poller.poll_once(wait_s=0)):
        total += handled
    return total
