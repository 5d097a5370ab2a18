"""Fair scheduled training: given many tenants, when the schedule fires, then each tenant with new
data gets one training of its own, stalest first, run by its own invocation from the queue; one
tenant's failure touches no other, and a tenant too large for a Lambda is reported, not queued."""

from __future__ import annotations

import time

import numpy as np
import pytest

from local.gateway import LambdaContext, load_handler
from local.template import Route
from recengine.events.model import EventIn
from recengine.events.service import record_interactions
from recengine.models import jobs
from recengine.models.dispatch import dispatch_training
from recengine.runtime import runtime
from tests.conftest import load_event
from tests.integration.conftest import drain_training_queue

DISPATCH = Route("TrainDispatchFunction", "functions/train_dispatch/", "app.lambda_handler", "", "", False)


def small_tenant(aws, name: str, seed: int) -> str:
    """A tenant with a few users who each like a few of 12 items (straight through the services)."""
    caller = aws.tenant(name)
    rng = np.random.default_rng(seed)
    c = runtime()
    events = [EventIn(item_id=f"i{int(rng.integers(12))}", type="click", user_id=f"u{u}", event_id=f"e{u}-{k}",
                      timestamp=1.7e9 + u * 10 + k)
              for u in range(6) for k in range(4)]
    record_interactions(c.interactions, c.seen_users, c.pseudonyms, caller.tenant_id, events)
    return caller.tenant_id


def schedule() -> dict:
    return load_handler(DISPATCH)(load_event("train_schedule"), LambdaContext("dispatch"))


def test_fifty_small_tenants_are_all_trained_by_one_scheduled_run(aws):
    tenants = [small_tenant(aws, f"shop{n:02d}", n) for n in range(50)]
    summary = schedule()
    assert sorted(q["tenant_id"] for q in summary["queued"]) == sorted(tenants)
    assert summary["failed"] == summary["busy"] == summary["too_large"] == []
    assert drain_training_queue(aws) == 50  # one invocation per tenant
    registry = runtime().registry
    assert all(registry.live_model_id(t) for t in tenants)
    again = schedule()
    assert again["queued"] == [] and sorted(again["up_to_date"]) == sorted(tenants)


def test_the_stalest_tenant_goes_first(aws):
    old, recent, never = (small_tenant(aws, name, n) for n, name in enumerate(("old", "recent", "never")))
    c = runtime()
    c.markers.set_trained_marker(old, "0", now=time.time() - 7200)
    c.markers.set_trained_marker(recent, "0", now=time.time() - 60)
    order = [q["tenant_id"] for q in dispatch_training(c.tenants, c.training, c.jobs, lambda t, j: None,
                                                       timeouts=c.job_timeouts, max_events=10**6)["queued"]]
    assert order == [never, old, recent]


def test_one_tenants_failing_training_leaves_the_others_trained(aws, monkeypatch):
    good, bad = small_tenant(aws, "good", 1), small_tenant(aws, "bad", 2)
    original = jobs.train_tenant

    def train_tenant(stores, tenant_id, **kwargs):
        if tenant_id == bad:
            raise MemoryError("the bad tenant's training dies")
        return original(stores, tenant_id, **kwargs)

    monkeypatch.setattr(jobs, "train_tenant", train_tenant)
    schedule()
    drain_training_queue(aws)  # the bad tenant's message is reported failed and waits for redelivery
    c = runtime()
    assert c.registry.live_model_id(good) and not c.registry.live_model_id(bad)
    (bad_job,) = c.jobs.jobs(bad, "train")
    assert bad_job["status"] == "failed" and c.jobs.lock_holder(bad, "train") is None


def test_a_tenant_too_large_for_a_lambda_is_reported_not_queued(aws, configure):
    big, small = small_tenant(aws, "big", 1), small_tenant(aws, "small", 2)
    c = runtime()
    c.registry.put_version(big, {"model_id": "model_hybrid-v1_big", "status": "live", "interactions": 9_000_000})
    c.registry.put_row({"tenant_id": big, "model_id": "LIVE", "live_model_id": "model_hybrid-v1_big"})
    configure(MAX_LAMBDA_TRAINING_EVENTS="5000000")
    summary = schedule()
    assert summary["too_large"] == [{"tenant_id": big, "events": 9_000_000}]
    assert [q["tenant_id"] for q in summary["queued"]] == [small]


def test_a_tenant_already_training_is_not_queued_twice(aws, api):
    tenant_id = small_tenant(aws, "busy", 3)
    c = runtime()
    running = jobs.queue_training(c.jobs, lambda t, j: None, tenant_id, timeouts=c.job_timeouts, trigger="api", force=True)
    summary = schedule()
    assert summary["busy"] == [{"tenant_id": tenant_id, "job_id": running["job_id"]}] and summary["queued"] == []


@pytest.mark.parametrize("field", ["queued", "busy", "too_large", "failed", "up_to_date"])
def test_the_dispatch_summary_always_names_each_outcome(aws, field):
    assert field in schedule()
