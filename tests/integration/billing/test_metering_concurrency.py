"""Concurrent writers against moto: metered calls, the overage cap, and item and user counts stay
exact because every change is one conditional write (an UpdateItem, a PutItem, or the meter's
TransactWriteItems of a call marker and a shard), never a read then a write."""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from recengine.billing import metering, periods, service
from recengine.billing.metering import OverageBudgetExceededError, PlanLimitExceededError
from recengine.billing.plans import PLANS
from recengine.billing.store import SHARDS, shares
from recengine.catalogue import service as catalogue
from recengine.catalogue.model import ItemDraft
from recengine.events.model import EventIn
from recengine.events.service import record_interactions
from recengine.runtime import runtime
from tests.integration.conftest import set_requests

THREADS = 8
GROWTH = PLANS["growth"]


def tenant_of(caller):
    return runtime().tenants.get_tenant(caller.tenant_id)


def run_threads(work, n=THREADS):
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(work, range(n)))


def test_8_writers_x_250_metered_calls_are_counted_exactly(aws, atomic_item_writes, billing_clock):
    tenant = tenant_of(aws.tenant())
    usage = runtime().usage
    calls = 250

    def work(thread):
        for n in range(calls):
            metering.meter_call(usage, tenant, f"t{thread}-{n}")

    started = time.perf_counter()
    run_threads(work)
    elapsed = time.perf_counter() - started
    report = service.usage_report(usage, tenant)
    print(f"\nmetering: {THREADS} threads x {calls} calls -> {report['requests_used']} counted in {elapsed:.2f}s")
    assert report["requests_used"] == THREADS * calls


def test_the_overage_cap_holds_exactly_under_a_concurrent_race(aws, atomic_item_writes, billing_clock):
    tenant = tenant_of(aws.tenant())
    usage = runtime().usage
    service.set_overage_cap(usage, tenant, 2.0)  # one unit of 1,000 requests past the included ones
    start = GROWTH.request_limit - 100
    set_requests(tenant.tenant_id, periods.period_of(billing_clock()), start)
    attempts = 200

    def work(thread):
        admitted = refused = 0
        for n in range(attempts):
            try:
                metering.meter_call(usage, tenant, f"t{thread}-{n}")
                admitted += 1
            except OverageBudgetExceededError:
                refused += 1
        return admitted, refused

    results = run_threads(work)
    admitted, refused = sum(a for a, _ in results), sum(r for _, r in results)
    allowance = GROWTH.request_limit + 1_000
    print(f"\ncap race: {THREADS} threads x {attempts} attempts -> {admitted} admitted, {refused} refused, "
          f"final count {service.usage_report(usage, tenant)['requests_used']} (allowance {allowance})")
    assert admitted == allowance - start and refused == THREADS * attempts - admitted
    report = service.usage_report(usage, tenant)
    assert report["requests_used"] == allowance and report["budget_exceeded"] is True
    assert report["overage_amount"] == 2.0


def test_concurrent_calls_fill_every_shard_to_its_share_and_not_one_call_past_the_allowance(
        aws, atomic_item_writes, billing_clock):
    tenant = tenant_of(aws.tenant())
    usage = runtime().usage
    allowance = periods.allowance(GROWTH, GROWTH.default_overage_cap)  # no cap set: the plan default's
    headroom, attempts = 300, 60
    set_requests(tenant.tenant_id, periods.period_of(billing_clock()), allowance - headroom)

    def work(thread):
        admitted = refused = 0
        for n in range(attempts):
            try:
                metering.meter_call(usage, tenant, f"t{thread}-{n}")
                admitted += 1
            except OverageBudgetExceededError:
                refused += 1
        return admitted, refused

    results = run_threads(work)
    admitted, refused = sum(a for a, _ in results), sum(r for _, r in results)
    room = usage.shard_room(tenant.tenant_id, periods.period_of(billing_clock()), shares(allowance))
    print(f"\nshards: {THREADS} threads x {attempts} attempts over {SHARDS} shards -> {admitted} admitted, "
          f"{refused} refused")
    assert admitted == headroom and refused == THREADS * attempts - headroom
    assert room == [0] * SHARDS  # every shard full, none past its share: refused only when all are full
    assert service.usage_report(usage, tenant)["requests_used"] == allowance


def test_concurrent_ingestion_counts_each_new_user_once(aws, atomic_item_writes):
    tenant = tenant_of(aws.tenant())
    c = runtime()
    limit = metering.user_limit(c.usage, tenant)
    users = [f"user-{n:03d}" for n in range(60)]

    def work(seed):
        rng, sent = random.Random(seed), set()
        for batch in range(10):
            events = [EventIn(user_id=rng.choice(users), item_id=f"i{rng.randrange(20)}", type="view",
                              event_id=f"t{seed}-b{batch}-e{n}") for n in range(12)]
            record_interactions(c.interactions, c.seen_users, c.pseudonyms, tenant.tenant_id, events, users=limit)
            sent.update(e.user_id for e in events)
        return sent

    sent = set().union(*run_threads(work))
    assert c.usage.totals(tenant.tenant_id)["users"] == len(sent)
    assert c.seen_users.unseen_users(tenant.tenant_id, sorted(sent)) == []


def test_concurrent_upserts_of_the_same_new_items_count_each_item_once(aws, atomic_item_writes):
    tenant = tenant_of(aws.tenant())
    c = runtime()
    limit = metering.item_limit(c.usage, tenant)
    items = [ItemDraft(f"sku-{n:03d}", {"n": n}) for n in range(40)]

    def work(seed):
        batch = random.Random(seed).sample(items, 30)
        return catalogue.upsert_items(c.items, tenant.tenant_id, batch, limit=limit).created

    created = run_threads(work)
    stored = c.items.get_many(tenant.tenant_id, (i.id for i in items))
    assert sum(created) == len(stored) == c.usage.totals(tenant.tenant_id)["items"]


def test_the_user_limit_holds_under_concurrency(aws, atomic_item_writes, monkeypatch):
    monkeypatch.setitem(PLANS, "starter", PLANS["starter"].model_copy(update={"user_limit": 25}))
    tenant = tenant_of(aws.tenant("small", plan="starter"))
    c = runtime()
    limit = metering.user_limit(c.usage, tenant)

    def work(thread):
        events = [EventIn(user_id=f"t{thread}-u{n}", item_id="a", type="view") for n in range(5)]
        try:
            record_interactions(c.interactions, c.seen_users, c.pseudonyms, tenant.tenant_id, events, users=limit)
            return True
        except PlanLimitExceededError:
            return False

    accepted = run_threads(work)
    assert sum(accepted) == 5 and c.usage.totals(tenant.tenant_id)["users"] == 25


@pytest.mark.parametrize("counter", ["items", "users"])
def test_a_reservation_past_the_limit_changes_nothing(aws, counter):
    usage = runtime().usage
    assert usage.reserve("t1", counter, 3, limit=4)
    assert not usage.reserve("t1", counter, 2, limit=4)
    assert not usage.reserve("t2", counter, 5, limit=4)
    assert usage.totals("t1")[counter] == 3 and usage.totals("t2")[counter] == 0
