"""Bounded jobs: given a tenant, when it asks for trainings and batch generations faster than they
run, then it has at most one of each kind queued or running (409 naming it), at most its plan's
number a day (429), and a segment of users never seen counts against its user limit (402)."""

from __future__ import annotations

import time

import boto3
import pytest

from recengine.models.job_claims import seconds_to_next_day, utc_day
from recengine.runtime import runtime
from tests.integration.conftest import drain_training_queue, seed_tenant


def train_now(api, caller):
    return api("POST", "/v1/models/train", caller=caller)


def test_five_quick_trainings_give_one_job_and_four_409s_naming_it(aws, api):
    caller = aws.tenant()
    answers = [train_now(api, caller) for _ in range(5)]
    assert [status for status, _, _ in answers] == [202, 409, 409, 409, 409]
    job = answers[0][2]
    for _, headers, problem in answers[1:]:
        assert problem["type"] == "/problems/job-in-progress" and headers["Retry-After"]
        assert problem["job_id"] == job["job_id"] and problem["job_status"] == "queued"
        assert problem["status_url"] == job["status_url"] == f"/v1/models/jobs/{job['job_id']}"
    assert len(runtime().jobs.jobs(caller.tenant_id, "train")) == 1
    messages = boto3.client("sqs").receive_message(QueueUrl=aws.env["TRAIN_QUEUE_URL"], MaxNumberOfMessages=10)
    assert len(messages["Messages"]) == 1
    # A refused call takes nothing from the day's allowance.
    assert runtime().jobs.daily_count(caller.tenant_id, "train", utc_day(time.time())) == 1


def test_once_the_job_has_ended_the_next_training_is_accepted(aws, api):
    caller = aws.tenant()
    seed_tenant(api, caller, users=20, items=30, events=8)
    first = train_now(api, caller)
    assert drain_training_queue(aws) == 1
    second = train_now(api, caller)
    assert (first[0], second[0]) == (202, 202) and first[2]["job_id"] != second[2]["job_id"]


def test_a_dead_jobs_claim_is_taken_over_and_the_job_recorded_as_timed_out(aws, api):
    caller = aws.tenant()
    c = runtime()
    _, _, job = train_now(api, caller)
    stale = time.time() - c.job_timeouts.queued_s - 60
    c.jobs.update_job(caller.tenant_id, job["job_id"], {"created_at": stale})  # its message was lost long ago
    status, _, fresh = train_now(api, caller)
    assert status == 202 and c.jobs.lock_holder(caller.tenant_id, "train") == fresh["job_id"]
    dead = c.jobs.get_job(caller.tenant_id, job["job_id"])
    assert dead["status"] == "failed" and dead["error"] == "timed out"


def test_the_plans_daily_trainings_are_enforced_with_retry_after(aws, api):
    caller = aws.tenant("small", plan="starter")  # 4 a day
    for _ in range(4):
        assert train_now(api, caller)[0] == 202
        drain_training_queue(aws)  # each ends (skipped: no data) before the next is asked for
    status, headers, problem = train_now(api, caller)
    assert status == 429 and problem["type"] == "/problems/job-quota-exceeded" and problem["daily_limit"] == 4
    assert 0 < int(headers["Retry-After"]) <= seconds_to_next_day(time.time())
    assert runtime().jobs.lock_holder(caller.tenant_id, "train") is None  # a refused job holds nothing


def test_one_batch_job_at_a_time_and_the_second_names_the_first(aws, api):
    caller = aws.tenant()
    seed_tenant(api, caller, users=20, items=30, events=8)
    first = api("POST", "/v1/recommendations/generate", caller=caller, body={"count": 3})
    second = api("POST", "/v1/recommendations/generate", caller=caller, body={"count": 3})
    assert first[0] == 202 and second[0] == 409
    assert second[2]["job_id"] == first[2]["job_id"]
    assert second[2]["status_url"] == f"/v1/recommendations/jobs/{first[2]['job_id']}"


def test_a_finished_batch_job_frees_the_tenant_for_the_next(aws, api, configure):
    configure(BATCH_DISPATCH="inline")
    caller = aws.tenant()
    seed_tenant(api, caller, users=20, items=30, events=8)
    from tests.integration.conftest import train

    train(caller)
    answers = [api("POST", "/v1/recommendations/generate", caller=caller, body={"count": 3}) for _ in range(2)]
    assert [a[0] for a in answers] == [202, 202] and answers[1][2]["status"] == "succeeded"


def test_a_segment_of_unseen_users_counts_against_the_user_limit_and_writes_nothing_past_it(aws, api):
    caller = aws.tenant("small", plan="starter")  # 500 users
    ids = [f"stranger-{n:04d}" for n in range(2000)]
    status, _, problem = api("POST", "/v1/recommendations/generate", caller=caller, body={"user_ids": ids, "count": 3})
    assert status == 402 and problem["type"] == "/problems/payment-required"
    c = runtime()
    assert c.usage.totals(caller.tenant_id)["users"] == 0
    assert c.seen_users.unseen_users(caller.tenant_id, ids) == ids  # no marker written
    assert c.jobs.jobs(caller.tenant_id, "batch") == [] and c.jobs.lock_holder(caller.tenant_id, "batch") is None
    status, _, job = api("POST", "/v1/recommendations/generate", caller=caller, body={"user_ids": ids[:300]})
    assert status == 202 and job["total_users"] == 300 and c.usage.totals(caller.tenant_id)["users"] == 300


@pytest.mark.parametrize("kind,field", [("train", "daily_training_jobs"), ("batch", "daily_batch_jobs")])
def test_every_plan_bounds_each_kind_of_job(kind, field):
    from recengine.billing.plans import PLANS

    limits = [getattr(PLANS[p], field) for p in ("starter", "growth", "enterprise")]
    assert all(n >= 1 for n in limits) and limits == sorted(limits)
