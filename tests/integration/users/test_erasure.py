"""User erasure (right to be forgotten). Given a trained tenant where user U has a history with
sessions, served lists and their outcomes (exposures), precomputed lists and lines in versioned S3
batch outputs, when an admin erases U and the erasure worker runs the job from its queue, then
every DynamoDB table and every version of every S3 object holds nothing of U (neither the raw id
nor U's pseudonymous keys), other users' data is intact, the tenant's user count went down by one,
recommend treats U as unknown, and the next training does not see U."""

from __future__ import annotations

import json

import boto3
import pytest

from recengine.attribution.service import Pseudonyms
from recengine.batch import service as batch
from recengine.errors import StoreError
from recengine.models.training import read_training_data
from recengine.runtime import runtime
from tests.conftest import TEST_PSEUDONYM_KEY
from tests.integration.conftest import drain_erasure_queue, seed_tenant, train

U = "erase-me-7f3a"  # distinctive: a scan for it cannot match anything by chance
U_SESSIONS = ("sess-erase-me-a", "sess-erase-me-b")
OTHER = "user-0004"


def u_events(n: int = 8, request_id: str | None = None, prefix: str = "evt-u") -> list[dict]:
    return [{"user_id": U, "session_id": U_SESSIONS[i % 2], "item_id": f"item-{i:05d}", "type": "click",
             "timestamp": 1_760_100_000 + i * 60, "event_id": f"{prefix}-{i:03d}",
             **({"request_id": request_id} if request_id else {})} for i in range(n)]


def everything_stored() -> str:
    """Every item of every DynamoDB table and every version of every S3 object, as one text."""
    dynamodb, s3 = boto3.client("dynamodb"), boto3.client("s3")
    parts = []
    for table in dynamodb.list_tables()["TableNames"]:
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            parts += [json.dumps(item, sort_keys=True) for item in page["Items"]]
    for bucket in (b["Name"] for b in s3.list_buckets()["Buckets"]):
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for version in page.get("Versions", []):
                body = s3.get_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])["Body"].read()
                parts += [version["Key"], body.decode("latin-1")]
    return "\n".join(parts)


def batch_lines(bucket: str, tenant_id: str) -> list[dict]:
    s3 = boto3.client("s3")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"tenants/{tenant_id}/batch/").get("Contents", [])
    return [json.loads(line) for o in listed
            for line in s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read().decode().splitlines()]


@pytest.fixture
def shop(aws, api, configure):
    """A trained tenant; U with two sessions (one anonymous event in a session of U's), two served
    lists and their outcomes; a batch job for every user, one of its parts written twice (a retried
    chunk leaves an older version holding U's line, as the bucket is versioned in AWS)."""
    caller = aws.tenant("shop")
    s3 = boto3.client("s3")
    s3.put_bucket_versioning(Bucket=aws.env["MODEL_BUCKET"], VersioningConfiguration={"Status": "Enabled"})
    seed_tenant(api, caller, users=24, items=40, events=8)
    anonymous = {"session_id": U_SESSIONS[0], "item_id": "item-00007", "type": "view", "event_id": "evt-u-anon"}
    assert api("POST", "/v1/interactions", caller=caller, body={"interactions": u_events() + [anonymous]})[0] == 201
    train(caller)
    for body in ({"user_id": U, "session_id": U_SESSIONS[0], "limit": 5}, {"session_id": U_SESSIONS[1], "limit": 5}):
        status, _, served = api("POST", "/v1/recommend", caller=caller, body=body)
        assert status == 200, served
        outcomes = u_events(2, request_id=served["meta"]["request_id"], prefix=f"evt-o-{served['meta']['request_id']}")
        assert api("POST", "/v1/interactions", caller=caller, body={"interactions": outcomes})[0] == 201
    configure(BATCH_DISPATCH="inline")
    status, _, job = api("POST", "/v1/recommendations/generate", caller=caller, body={"count": 3})
    assert status == 202
    key = batch.part_key(caller.tenant_id, job["job_id"], 0)
    body = s3.get_object(Bucket=aws.env["MODEL_BUCKET"], Key=key)["Body"].read()
    s3.put_object(Bucket=aws.env["MODEL_BUCKET"], Key=key, Body=body)  # the retried chunk's second version
    stored = everything_stored()
    pseudonym = Pseudonyms(TEST_PSEUDONYM_KEY)
    keys = [pseudonym.user_key(caller.tenant_id, U, None)] + [pseudonym.user_key(caller.tenant_id, None, s)
                                                              for s in U_SESSIONS]
    assert U in stored and all(k in stored for k in keys)  # U really is everywhere the test then looks
    assert runtime().stored_lists.get_list(caller.tenant_id, U, "hybrid") is not None
    return caller, keys


def erase(aws, api, caller, user_id: str = U) -> dict:
    status, headers, accepted = api("DELETE", "/v1/users/{user_id}", caller=caller, path_params={"user_id": user_id})
    assert status == 202, accepted
    assert accepted["status"] == "queued" and accepted["job_id"].startswith("erase-")
    assert headers["Location"] == accepted["status_url"] == f"/v1/users/erasures/{accepted['job_id']}"
    assert drain_erasure_queue(aws) == 1
    status, _, job = api("GET", "/v1/users/erasures/{job_id}", caller=caller,
                         path_params={"job_id": accepted["job_id"]})
    assert status == 200 and job["status"] == "succeeded", job
    return job


def test_after_the_erasure_no_table_and_no_object_holds_anything_of_the_user(aws, api, shop):
    caller, keys = shop
    rt = runtime()
    users_before = rt.usage.totals(caller.tenant_id)["users"]
    other_history = len(rt.interactions.user_history(caller.tenant_id, OTHER))
    other_lines = [r for r in batch_lines(aws.env["MODEL_BUCKET"], caller.tenant_id) if r["user_id"] == OTHER]

    job = erase(aws, api, caller)

    assert U not in json.dumps(job)
    erased = job["erased"]
    assert erased["history_rows"] == 12 and erased["session_rows"] == 13 and erased["user_uncounted"] is True
    assert erased["event_claims"] == 13 and erased["exposures"] == 2 and erased["stored_lists"] == 1
    assert erased["batch_lines_removed"] == 2 and erased["batch_versions_deleted"] == 2
    stored = everything_stored()
    assert U not in stored
    for key in keys:
        assert key not in stored
    for session_id in U_SESSIONS:
        assert session_id not in stored
    # Others are intact: history, lists, batch lines, their seen marker.
    assert len(rt.interactions.user_history(caller.tenant_id, OTHER)) == other_history > 0
    assert rt.stored_lists.get_list(caller.tenant_id, OTHER, "hybrid") is not None
    assert [r for r in batch_lines(aws.env["MODEL_BUCKET"], caller.tenant_id) if r["user_id"] == OTHER] == other_lines
    assert rt.seen_users.unseen_users(caller.tenant_id, [OTHER]) == []
    assert rt.usage.totals(caller.tenant_id)["users"] == users_before - 1


def test_after_the_erasure_recommend_treats_the_user_as_unknown_and_training_does_not_see_them(aws, api, shop):
    caller, _ = shop
    rt = runtime()
    users_trained = len(set(read_training_data(rt.interactions, caller.tenant_id)[0].user_ids))
    erase(aws, api, caller)
    assert rt.markers.trained_marker(caller.tenant_id) == ""  # the next scheduled training runs
    data, _ = read_training_data(rt.interactions, caller.tenant_id)
    assert U not in data.user_ids and len(set(data.user_ids)) == users_trained - 1
    record = train(caller)
    assert record["meta"]["users"] == users_trained - 1
    for body in ({"user_id": U, "limit": 5}, {"user_id": U, "source": "batch", "limit": 5}):
        status, _, served = api("POST", "/v1/recommend", caller=caller, body=body)
        assert status == 200 and served["meta"]["source"] != "batch", served  # no stored list is left
        assert "unknown_user" in {w["code"] for w in served["warnings"]}, served  # no history: popular items


def test_erasing_an_unknown_user_or_twice_completes_and_counts_down_once(aws, api, shop):
    caller, _ = shop
    usage = runtime().usage
    users_before = usage.totals(caller.tenant_id)["users"]
    assert erase(aws, api, caller)["erased"]["user_uncounted"] is True
    again = erase(aws, api, caller)["erased"]
    assert set(again.values()) == {0, False}
    assert set(erase(aws, api, caller, "never-seen")["erased"].values()) == {0, False}
    assert usage.totals(caller.tenant_id)["users"] == users_before - 1


def test_the_queue_message_and_the_job_row_do_not_keep_the_user_id(aws, api, shop):
    caller, _ = shop
    status, _, accepted = api("DELETE", "/v1/users/{user_id}", caller=caller, path_params={"user_id": U})
    assert status == 202 and U not in json.dumps(accepted)
    sqs = boto3.client("sqs")
    (message,) = sqs.receive_message(QueueUrl=aws.env["ERASURE_QUEUE_URL"])["Messages"]
    assert json.loads(message["Body"]) == {"tenant_id": caller.tenant_id, "job_id": accepted["job_id"]}
    sqs.change_message_visibility(QueueUrl=aws.env["ERASURE_QUEUE_URL"], ReceiptHandle=message["ReceiptHandle"],
                                  VisibilityTimeout=0)
    assert runtime().jobs.get_job(caller.tenant_id, accepted["job_id"])["user_id"] == U  # needed until it is done
    assert drain_erasure_queue(aws) == 1
    assert "user_id" not in runtime().jobs.get_job(caller.tenant_id, accepted["job_id"])


def test_an_erasure_waits_for_a_running_batch_job_and_then_erases_its_output(aws, api, configure):
    caller = aws.tenant("shop")
    seed_tenant(api, caller, users=12, items=30, events=6)
    assert api("POST", "/v1/interactions", caller=caller, body={"interactions": u_events()})[0] == 201
    train(caller)
    sent: list[dict] = []
    rt = runtime()
    rt.__dict__["batch_dispatcher"] = sent.extend  # the chunks wait on the queue: the job stays queued
    status, _, batch_job = api("POST", "/v1/recommendations/generate", caller=caller, body={"count": 3})
    assert status == 202 and batch_job["status"] == "queued"
    status, _, accepted = api("DELETE", "/v1/users/{user_id}", caller=caller, path_params={"user_id": U})
    assert drain_erasure_queue(aws) == 1  # the worker reports it failed: redelivered later
    status, _, job = api("GET", "/v1/users/erasures/{job_id}", caller=caller,
                         path_params={"job_id": accepted["job_id"]})
    assert job["status"] == "running" and batch_job["job_id"] in job["detail"]
    assert rt.interactions.user_history(caller.tenant_id, U) == []  # the history went at once
    for message in sent:  # the batch job's chunks run (U's precomputed list is computed and written)
        batch.process_chunk(rt.ranking, rt.jobs, rt.stored_lists, rt.artefacts, message)
    assert U in {r["user_id"] for r in batch_lines(aws.env["MODEL_BUCKET"], caller.tenant_id)}
    done = rt.run_erasure_job(caller.tenant_id, accepted["job_id"])  # the redelivery
    assert done["status"] == "succeeded" and done["erased"]["batch_lines_removed"] == 1, done
    assert done["erased"]["history_rows"] == 8 and done["erased"]["user_uncounted"] is True  # both attempts'
    assert done["erased"]["batch_versions_deleted"] == 0  # unversioned bucket: the rewrite replaced it
    assert U not in everything_stored()


def test_an_erasure_that_failed_half_way_is_finished_by_its_redelivery(aws, api):
    caller = aws.tenant("shop")
    assert api("POST", "/v1/interactions", caller=caller, body={"interactions": u_events(4)})[0] == 201
    rt = runtime()
    users_before = rt.usage.totals(caller.tenant_id)["users"]

    def s3_down(tenant_id, user_id):
        raise StoreError("list_object_versions failed (InternalError)")

    outputs = rt.erasure.outputs
    outputs.erase_user = s3_down  # the instance's own: S3 fails for this attempt only
    status, _, accepted = api("DELETE", "/v1/users/{user_id}", caller=caller, path_params={"user_id": U})
    assert status == 202 and drain_erasure_queue(aws) == 1  # reported failed: the queue redelivers it
    _, _, failed = api("GET", "/v1/users/erasures/{job_id}", caller=caller, path_params={"job_id": accepted["job_id"]})
    assert failed["status"] == "failed" and "StoreError" in failed["error"], failed
    assert failed["erased"]["history_rows"] == 4 and failed["erased"]["user_uncounted"] is True
    del outputs.erase_user
    done = runtime().run_erasure_job(caller.tenant_id, accepted["job_id"])  # the redelivery
    assert done["status"] == "succeeded" and "error" not in done, done
    assert done["erased"]["history_rows"] == 4 and done["erased"]["user_uncounted"] is True
    assert runtime().usage.totals(caller.tenant_id)["users"] == users_before - 1
    assert U not in everything_stored()


def test_a_failed_erasure_forgets_the_user_once_a_later_one_succeeds(aws, api):
    caller = aws.tenant("shop")
    assert api("POST", "/v1/interactions", caller=caller, body={"interactions": u_events(2)})[0] == 201
    rt = runtime()
    outputs = rt.erasure.outputs
    outputs.erase_user = lambda tenant_id, user_id: (_ for _ in ()).throw(StoreError("S3 down"))
    first = api("DELETE", "/v1/users/{user_id}", caller=caller, path_params={"user_id": U})[2]
    assert drain_erasure_queue(aws) == 1  # failed for good, say (its message in the dead-letter queue)
    assert rt.jobs.get_job(caller.tenant_id, first["job_id"])["user_id"] == U  # kept for its retry
    del outputs.erase_user
    erase(aws, api, caller)  # the operator sends the DELETE again
    assert "user_id" not in rt.jobs.get_job(caller.tenant_id, first["job_id"])
    assert rt.jobs.get_job(caller.tenant_id, first["job_id"])["status"] == "failed"
    assert U not in everything_stored()


def test_only_admin_keys_may_erase_and_a_read_key_may_poll(aws, api, shop):
    caller, _ = shop
    for role in ("read", "write"):
        status, _, problem = api("DELETE", "/v1/users/{user_id}", caller=caller.as_role(role),
                                 path_params={"user_id": U})
        assert status == 403 and problem["type"].endswith("/problems/insufficient-scope"), problem
    job = erase(aws, api, caller)
    status, _, polled = api("GET", "/v1/users/erasures/{job_id}", caller=caller.as_role("read"),
                            path_params={"job_id": job["job_id"]})
    assert status == 200 and polled["status"] == "succeeded"


def test_an_unknown_or_foreign_job_id_is_404(aws, api, shop):
    caller, _ = shop
    job = erase(aws, api, caller)
    other = aws.tenant("other")
    for who, job_id in ((other, job["job_id"]), (caller, "erase-nope"), (caller, "train-nope")):
        status, _, problem = api("GET", "/v1/users/erasures/{job_id}", caller=who, path_params={"job_id": job_id})
        assert status == 404 and problem["type"].endswith("/problems/not-found"), problem


def test_an_erasure_touches_only_its_tenant(aws, api, shop):
    caller, _ = shop
    other = aws.tenant("other")
    assert api("POST", "/v1/interactions", caller=other, body={"interactions": u_events(3)})[0] == 201
    erase(aws, api, caller)
    assert len(runtime().interactions.user_history(other.tenant_id, U)) == 3
    assert runtime().seen_users.unseen_users(other.tenant_id, [U]) == []

