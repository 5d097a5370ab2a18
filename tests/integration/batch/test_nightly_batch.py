"""Nightly batch generation: given tenants that enabled it from the admin CLI, when the nightly
schedule invokes the batch function, then each of them gets one generate job (one tenant's failure
does not stop the others; a tenant with a batch job still running, or already served tonight, is
skipped) and recommend can serve the precomputed lists."""

from __future__ import annotations

import json
import time

import pytest

from local.gateway import LambdaContext, load_handler
from local.template import Route
from recengine.batch import nightly as nightly_batches
from recengine.batch.service import new_batch_job_id
from recengine.models import job_status as jobs
from recengine.ranking.query import MAX_LIMIT
from recengine.runtime import runtime
from tools.admin.cli import main
from tests.conftest import load_event
from tests.integration.conftest import seed_tenant, train

BATCH = Route("BatchFunction", "functions/batch/", "app.lambda_handler", "", "", False)


@pytest.fixture
def state(aws, tmp_path):
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"pid": 0, "endpoint_url": None, "region": None, "usage_plan_ids": aws.plan_ids,
                                "env": aws.env}))
    return path


def cli(capsys, state, *args) -> dict:
    assert main(["--state-file", str(state), "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def nightly(event: dict | None = None) -> dict:
    return load_handler(BATCH)(event or load_event("batch_nightly"), LambdaContext("nightly"))


def batch_jobs(tenant_id: str) -> list[dict]:
    return jobs.tenant_jobs(runtime().jobs, tenant_id, "batch")


@pytest.fixture
def shops(aws, api, configure):
    """Two trained tenants with events, and batch chunks computed in-process."""
    configure(BATCH_DISPATCH="inline")
    callers = []
    for n, name in enumerate(("north", "south")):
        caller = aws.tenant(name)
        seed_tenant(api, caller, users=12 + n, items=25, events=6, seed=n)
        train(caller)
        callers.append(caller)
    return callers


# ------------------------------------------------------------------ the admin CLI
def test_the_cli_turns_nightly_batches_on_and_off(aws, state, capsys):
    caller = aws.tenant()
    on = cli(capsys, state, "tenant", "nightly", "--tenant", caller.tenant_id, "--count", "7",
             "--algorithm", "collaborative")
    assert on["nightly_batch"]["count"] == 7 and on["nightly_batch"]["algorithm"] == "collaborative"
    assert runtime().nightly.get(caller.tenant_id) == on["nightly_batch"]
    (listed,) = cli(capsys, state, "tenant", "list")["tenants"]
    assert listed["nightly_batch"] == on["nightly_batch"]
    assert main(["--state-file", str(state), "tenant", "list"]) == 0
    assert "collaborative x7" in capsys.readouterr().out
    off = cli(capsys, state, "tenant", "nightly", "--tenant", caller.tenant_id, "--off")
    assert off["nightly_batch"] is None and runtime().nightly.get(caller.tenant_id) is None
    assert runtime().tenants.get_tenant(caller.tenant_id).plan  # the tenant record itself is untouched


def test_the_cli_refuses_an_unknown_tenant_and_a_count_out_of_range(aws, state, capsys):
    caller = aws.tenant()
    assert main(["--state-file", str(state), "tenant", "nightly", "--tenant", "nobody"]) == 1
    assert "nobody" in capsys.readouterr().err
    for count in (0, MAX_LIMIT + 1):
        assert main(["--state-file", str(state), "tenant", "nightly", "--tenant", caller.tenant_id,
                     "--count", str(count)]) == 1
    assert runtime().nightly.get(caller.tenant_id) is None
    assert nightly_batches.MAX_NIGHTLY_COUNT == MAX_LIMIT  # the setting allows what a generate request allows


# ------------------------------------------------------------------ the schedule
def test_the_schedule_starts_one_job_per_enabled_tenant(aws, shops, state, capsys, api):
    north, south = shops
    quiet = aws.tenant("quiet")
    cli(capsys, state, "tenant", "nightly", "--tenant", north.tenant_id, "--count", "4")
    cli(capsys, state, "tenant", "nightly", "--tenant", south.tenant_id, "--count", "3", "--algorithm", "popular")
    summary = nightly()
    assert sorted(s["tenant_id"] for s in summary["started"]) == sorted([north.tenant_id, south.tenant_id])
    assert summary["failed"] == [] and batch_jobs(quiet.tenant_id) == []
    for caller in (north, south):
        (job,) = batch_jobs(caller.tenant_id)
        setting = runtime().nightly.get(caller.tenant_id)
        assert job["status"] == "succeeded" and job["trigger"] == nightly_batches.NIGHTLY_TRIGGER
        assert job["count"] == setting["count"] and job["algorithm"] == setting["algorithm"]
        assert job["total_users"] == len(runtime().interactions.tenant_user_ids(caller.tenant_id))
    user = runtime().interactions.tenant_user_ids(north.tenant_id)[0]
    status, _, body = api("POST", "/v1/recommend", caller=north, body={"user_id": user, "source": "batch"})
    assert status == 200 and body["meta"]["source"] == "batch"
    assert len(body["items"]) == runtime().nightly.get(north.tenant_id)["count"]


def test_a_retried_schedule_starts_no_second_job(aws, shops):
    north, _ = shops
    runtime().nightly.set(north.tenant_id, {"algorithm": "hybrid", "count": 5})
    assert [s["tenant_id"] for s in nightly()["started"]] == [north.tenant_id]
    again = nightly()
    assert again["started"] == [] and again["skipped"][0]["tenant_id"] == north.tenant_id
    assert len(batch_jobs(north.tenant_id)) == 1


def test_a_tenant_with_a_batch_job_running_is_skipped_unless_it_is_stuck(aws, shops):
    north, south = shops
    store = runtime().jobs
    timeouts = runtime().job_timeouts
    for caller in shops:
        runtime().nightly.set(caller.tenant_id, {"algorithm": "hybrid", "count": 5})
    now = time.time()
    running = {"job_id": new_batch_job_id(), "kind": "batch", "status": "running", "created_at": now,
               "started_at": now, "chunks": 2, "count": 5, "algorithm": "hybrid"}
    store.put_job(north.tenant_id, running)
    dead = {**running, "job_id": new_batch_job_id(), "created_at": now - timeouts.running_s - 60,
            "started_at": now - timeouts.running_s - 60}
    store.put_job(south.tenant_id, dead)
    summary = nightly()
    assert [s["tenant_id"] for s in summary["started"]] == [south.tenant_id]
    assert summary["skipped"] == [{"tenant_id": north.tenant_id,
                                   "reason": f"batch job {running['job_id']} is running"}]
    assert store.get_job(south.tenant_id, dead["job_id"])["error"] == jobs.TIMED_OUT


def test_one_tenants_failure_does_not_stop_the_others(aws, shops):
    north, south = shops
    # A setting written by hand that no longer validates (say, an algorithm since removed).
    runtime().nightly.set(north.tenant_id, {"algorithm": "retired-algorithm", "count": 5})
    runtime().nightly.set(south.tenant_id, {"algorithm": "hybrid", "count": 5})
    with pytest.raises(RuntimeError, match="1 tenant"):
        nightly()
    assert batch_jobs(north.tenant_id) == []
    (job,) = batch_jobs(south.tenant_id)
    assert job["status"] == "succeeded"


def test_an_eventbridge_scheduled_event_also_runs_it_and_api_events_still_route(aws, shops, api):
    north, _ = shops
    runtime().nightly.set(north.tenant_id, {"algorithm": "hybrid", "count": 5})
    scheduled = {**load_event("train_schedule"), "resources": ["arn:aws:events:us-east-1:1:rule/nightly"],
                 "source": "aws.events"}
    assert [s["tenant_id"] for s in nightly(scheduled)["started"]] == [north.tenant_id]
    (job,) = batch_jobs(north.tenant_id)
    status, _, body = api("GET", "/v1/recommendations/jobs/{job_id}", caller=north,
                          path_params={"job_id": job["job_id"]})
    assert status == 200 and body["job_id"] == job["job_id"]
