"""Stuck jobs: given a training or batch job whose Lambda died (its row left `queued` or
`running`), when the job is read, then it is reported and recorded as failed ("timed out"),
unless it finished or made progress meanwhile."""

from __future__ import annotations

import time

import pytest

from recengine.batch.service import new_batch_job_id
from recengine.models import job_status as jobs
from recengine.models.jobs import job_heartbeat, new_job_id
from recengine.runtime import runtime
from recengine.settings import Settings
from tests.conftest import settings_env

TIMEOUTS = jobs.JobTimeouts(running_s=600.0, queued_s=300.0)


def put(caller, kind: str, status: str, age_s: float, **fields) -> dict:
    """A job row created (and, if running, started) `age_s` seconds ago."""
    now = time.time()
    job = {"job_id": new_job_id() if kind == "train" else new_batch_job_id(), "kind": kind, "status": status,
           "created_at": now - age_s, **fields}
    if status == "running":
        job["started_at"] = now - age_s
    if kind == "batch":
        job.setdefault("chunks", 3)
        job.setdefault("count", 5)
        job.setdefault("algorithm", "hybrid")
    runtime().jobs.put_job(caller.tenant_id, job)
    return job


def row(caller, job):
    return runtime().jobs.get_job(caller.tenant_id, job["job_id"])


# ------------------------------------------------------------------ through the API
@pytest.mark.parametrize("status", ["running", "queued"])
def test_a_training_job_silent_past_the_timeout_is_reported_and_recorded_failed(aws, api, monkeypatch, status):
    timeouts = runtime().job_timeouts
    caller = aws.tenant()
    limit = timeouts.running_s if status == "running" else timeouts.queued_s
    job = put(caller, "train", status, limit + 60)
    got, _, body = api("GET", "/v1/models/jobs/{job_id}", caller=caller, path_params={"job_id": job["job_id"]})
    assert got == 200 and body["status"] == "failed" and body["error"] == jobs.TIMED_OUT and body["finished_at"]
    stored = row(caller, job)
    assert stored["status"] == "failed" and stored["error"] == jobs.TIMED_OUT
    assert stored["timed_out_after_s"] > limit


def test_a_training_job_within_the_timeout_is_left_alone(aws, api):
    timeouts = runtime().job_timeouts
    caller = aws.tenant()
    job = put(caller, "train", "running", timeouts.running_s / 2)
    _, _, body = api("GET", "/v1/models/jobs/{job_id}", caller=caller, path_params={"job_id": job["job_id"]})
    assert body["status"] == "running" and row(caller, job)["status"] == "running"


def test_the_timeout_comes_from_the_environment(aws, api, configure):
    caller = aws.tenant()
    default = runtime().job_timeouts.running_s
    job = put(caller, "train", "running", default / 4)
    configure(JOB_TIMEOUT_S=str(default / 8))
    _, _, body = api("GET", "/v1/models/jobs/{job_id}", caller=caller, path_params={"job_id": job["job_id"]})
    assert body["status"] == "failed" and body["error"] == jobs.TIMED_OUT


@pytest.mark.parametrize("raw", ["soon", "0", "-5", "nan"])
def test_an_invalid_timeout_fails_loudly(raw):
    with pytest.raises(RuntimeError, match="JOB_TIMEOUT_S"):
        Settings.from_env(settings_env(JOB_TIMEOUT_S=raw))


def test_a_stuck_batch_job_is_reported_failed_with_its_progress(aws, api):
    timeouts = runtime().job_timeouts
    caller = aws.tenant()
    job = put(caller, "batch", "running", timeouts.running_s + 60)
    runtime().jobs.mark_chunk_done(caller.tenant_id, job["job_id"], 0)
    # The first read sees a chunk done that no reader saw before: progress, so not failed yet.
    _, _, first = api("GET", "/v1/recommendations/jobs/{job_id}", caller=caller,
                      path_params={"job_id": job["job_id"]})
    assert first["status"] == "running" and first["chunks_done"] == 1
    # Nothing more happens for longer than the timeout.
    runtime().jobs.update_job(caller.tenant_id, job["job_id"],
                              {"observed_at": time.time() - timeouts.running_s - 60})
    _, _, later = api("GET", "/v1/recommendations/jobs/{job_id}", caller=caller,
                      path_params={"job_id": job["job_id"]})
    assert later["status"] == "failed" and later["error"] == jobs.TIMED_OUT and later["chunks_done"] == 1
    assert row(caller, job)["status"] == "failed"


def test_a_batch_job_id_is_not_a_training_job(aws, api):
    caller = aws.tenant()
    job = put(caller, "batch", "queued", 0)
    status, _, _ = api("GET", "/v1/models/jobs/{job_id}", caller=caller, path_params={"job_id": job["job_id"]})
    assert status == 404


# ------------------------------------------------------------------ the rules
def test_a_heartbeat_keeps_a_long_running_job_alive(aws):
    caller = aws.tenant()
    job = put(caller, "train", "running", TIMEOUTS.running_s * 3)
    store = runtime().jobs
    job_heartbeat(store, caller.tenant_id, job["job_id"])({"stage": "als"})
    checked = jobs.check_job(store, caller.tenant_id, row(caller, job), timeouts=TIMEOUTS)
    assert checked["status"] == "running"
    later = time.time() + TIMEOUTS.running_s + 1
    assert jobs.check_job(store, caller.tenant_id, row(caller, job), timeouts=TIMEOUTS, now=later)["status"] \
        == "failed"


def test_the_heartbeat_writes_at_most_once_per_interval(aws):
    caller = aws.tenant()
    job = put(caller, "train", "running", 0)
    store = runtime().jobs
    beat = job_heartbeat(store, caller.tenant_id, job["job_id"], every_s=3600)
    beat({"stage": "read"})
    first = row(caller, job)["progress_at"]
    beat({"stage": "als"})
    assert row(caller, job)["progress_at"] == first


def test_a_job_that_finished_after_it_was_read_keeps_its_outcome(aws):
    caller = aws.tenant()
    store = runtime().jobs
    job = put(caller, "train", "running", TIMEOUTS.running_s + 60)
    stale = row(caller, job)
    store.update_job(caller.tenant_id, job["job_id"], {"status": "succeeded", "finished_at": time.time()})
    checked = jobs.check_job(store, caller.tenant_id, stale, timeouts=TIMEOUTS)
    assert checked["status"] == "succeeded" and "error" not in checked
    assert row(caller, job)["status"] == "succeeded"


def test_a_heartbeat_after_the_read_keeps_the_job_running(aws):
    caller = aws.tenant()
    store = runtime().jobs
    job = put(caller, "train", "running", TIMEOUTS.running_s + 60)
    stale = row(caller, job)
    job_heartbeat(store, caller.tenant_id, job["job_id"])({"stage": "als"})
    assert jobs.check_job(store, caller.tenant_id, stale, timeouts=TIMEOUTS)["status"] == "running"
    assert row(caller, job)["status"] == "running"


def test_a_batch_chunk_finished_after_the_read_keeps_the_job_running(aws):
    caller = aws.tenant()
    store = runtime().jobs
    job = put(caller, "batch", "running", TIMEOUTS.running_s + 60)
    store.mark_chunk_done(caller.tenant_id, job["job_id"], 0)
    stale = jobs.check_job(store, caller.tenant_id, row(caller, job), timeouts=TIMEOUTS)  # observes chunk 0
    later = time.time() + TIMEOUTS.running_s + 1
    store.mark_chunk_done(caller.tenant_id, job["job_id"], 1)  # a worker finishes one more meanwhile
    assert jobs.check_job(store, caller.tenant_id, stale, timeouts=TIMEOUTS, now=later)["status"] == "running"
    assert row(caller, job)["status"] == "running"


@pytest.mark.parametrize("status", ["succeeded", "failed", "skipped"])
def test_finished_jobs_are_never_touched(aws, status):
    caller = aws.tenant()
    job = put(caller, "train", status, TIMEOUTS.running_s * 10)
    stored = row(caller, job)
    assert jobs.check_job(runtime().jobs, caller.tenant_id, stored, timeouts=TIMEOUTS) == stored
    assert row(caller, job) == stored
