"""The registry under races: given two writers that read the same state before either writes
(forced with a barrier), when both act, then there is still exactly one live version, no version
number twice, no deleted artefact behind the live pointer, and one runner per job."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from recengine.errors import ConflictError
from recengine.models import promotion
from recengine.models.jobs import queue_training, run_training_job
from recengine.runtime import runtime
from tests.integration.conftest import seed_tenant, train


def both_read_first(monkeypatch, obj, name: str, parties: int = 2) -> None:
    """Makes the first `parties` calls of obj.name wait for each other, so that every racer reads
    before any of them writes (afterwards the method behaves as usual)."""
    barrier = threading.Barrier(parties, timeout=10)
    original = getattr(obj, name)
    calls = {"n": 0}
    lock = threading.Lock()

    def gated(*args, **kwargs):
        result = original(*args, **kwargs)
        with lock:
            calls["n"] += 1
            mine = calls["n"]
        if mine <= parties:
            barrier.wait()
        return result

    monkeypatch.setattr(obj, name, gated)


def race(*work):
    with ThreadPoolExecutor(max_workers=len(work)) as pool:
        futures = [pool.submit(w) for w in work]
        return [f.exception() or f.result() for f in futures]


@pytest.fixture
def versions(aws, api, atomic_item_writes):
    """A tenant with three trained versions (the last live), each with its artefact."""
    caller = aws.tenant("shop")
    seed_tenant(api, caller, users=30, items=40, events=8)
    records = [train(caller, policy=promotion_policy()) for _ in range(3)]
    return caller, records


def promotion_policy():
    from recengine.models.training import TrainingPolicy

    return TrainingPolicy(tolerance=1.0, keep_versions=10)  # every version goes live, none deleted


def live_rows(tenant_id: str) -> list[str]:
    return [v["model_id"] for v in runtime().registry.versions(tenant_id) if v["status"] == "live"]


def test_two_racing_promotions_leave_exactly_one_live_version(versions, monkeypatch):
    caller, (first, second, third) = versions
    registry = runtime().registry
    both_read_first(monkeypatch, registry, "live_model_id")
    results = race(lambda: promotion.promote(registry, caller.tenant_id, first["model_id"]),
                   lambda: promotion.promote(registry, caller.tenant_id, second["model_id"]))
    assert not [r for r in results if isinstance(r, Exception)]
    live = registry.live_model_id(caller.tenant_id, consistent=True)
    assert live in (first["model_id"], second["model_id"])
    assert live_rows(caller.tenant_id) == [live]  # the other was retired by the later swap
    statuses = {v["model_id"]: v["status"] for v in registry.versions(caller.tenant_id)}
    assert statuses[third["model_id"]] == "retired"


def test_a_promotion_decided_against_one_live_version_is_not_applied_to_another(versions):
    caller, (first, second, third) = versions
    registry = runtime().registry
    with pytest.raises(ConflictError):  # a rollback of `first`, but `third` is live
        promotion.make_live(registry, caller.tenant_id, second["model_id"], 1.0, "test", expected_live=first["model_id"])
    assert live_rows(caller.tenant_id) == [third["model_id"]]


def test_two_racing_trainings_get_distinct_version_numbers(aws, api, atomic_item_writes, monkeypatch):
    caller = aws.tenant("shop")
    seed_tenant(api, caller, users=30, items=40, events=8)
    registry = runtime().registry
    both_read_first(monkeypatch, registry, "put_version")  # both have their number before either row exists
    results = race(lambda: train(caller, policy=promotion_policy()), lambda: train(caller, policy=promotion_policy()))
    assert not [r for r in results if isinstance(r, Exception)], results
    numbers = sorted(v["version"] for v in registry.versions(caller.tenant_id))
    assert numbers == [1, 2]
    assert len(live_rows(caller.tenant_id)) == 1


def test_retention_never_deletes_a_version_promoted_while_it_runs(versions, monkeypatch):
    caller, (first, second, third) = versions
    c = runtime()
    original = c.registry.versions

    def promote_after_listing(tenant_id):
        listed = original(tenant_id)
        promotion.promote(c.registry, tenant_id, first["model_id"])  # an operator, meanwhile
        return listed

    monkeypatch.setattr(c.registry, "versions", promote_after_listing)
    deleted = promotion.apply_retention(c.registry, c.artefacts, caller.tenant_id, keep=1)
    monkeypatch.setattr(c.registry, "versions", original)
    assert first["model_id"] not in deleted and second["model_id"] in deleted
    live = c.registry.get_version(caller.tenant_id, first["model_id"], consistent=True)
    assert live["status"] == "live" and live["artefact"] and not live.get("artefact_deleted")
    assert c.models.get(caller.tenant_id).model_id == first["model_id"]  # its files are still in S3


def test_retention_spares_a_version_being_promoted(versions):
    caller, (first, second, third) = versions
    c = runtime()
    c.registry.mark_promoting(caller.tenant_id, first["model_id"], now=time.time())
    deleted = promotion.apply_retention(c.registry, c.artefacts, caller.tenant_id, keep=1)
    assert deleted == [second["model_id"]]


def test_a_version_whose_artefact_was_deleted_cannot_be_made_live(versions):
    caller, (first, second, third) = versions
    c = runtime()
    promotion.apply_retention(c.registry, c.artefacts, caller.tenant_id, keep=1)
    with pytest.raises(ConflictError):
        promotion.promote(c.registry, caller.tenant_id, first["model_id"])
    assert live_rows(caller.tenant_id) == [third["model_id"]]


def test_two_deliveries_of_one_job_run_it_once(aws, api, atomic_item_writes, monkeypatch):
    caller = aws.tenant("shop")
    seed_tenant(api, caller, users=30, items=40, events=8)
    c = runtime()
    job = queue_training(c.jobs, lambda tenant_id, job_id: None, caller.tenant_id, timeouts=c.job_timeouts,
                         trigger="api", force=True)
    both_read_first(monkeypatch, c.jobs, "get_job")  # both see it queued
    results = race(lambda: run_training_job(c.training, c.jobs, caller.tenant_id, job["job_id"]),
                   lambda: run_training_job(c.training, c.jobs, caller.tenant_id, job["job_id"]))
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len(c.registry.versions(caller.tenant_id)) == 1  # one training, not two
    assert c.jobs.get_job(caller.tenant_id, job["job_id"])["status"] == "succeeded"
