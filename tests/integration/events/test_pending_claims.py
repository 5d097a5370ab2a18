"""Claims left `pending` by the earlier two-step writes (claim, rows, then marked stored) whose rows
never landed: the retry of the event writes the claim's rows and completes it (ADR 0002 keeps that
path), reported accepted once; a further repeat is the duplicate."""

from __future__ import annotations

from recengine.events.claims import PENDING, STORED, claim_key
from recengine.events.model import TYPE_WEIGHTS, EventIn, fingerprint
from recengine.aws import dynamo
from recengine.runtime import runtime
from tests.integration.dynamo_faults import DynamoFaults


def test_a_retry_completes_a_claim_left_pending(aws, call):
    caller = aws.tenant()
    body = {"user_id": "u1", "item_id": "a", "type": "purchase", "event_id": "e-7", "timestamp": 1.7e9}
    sent = EventIn(**body).as_dict()
    claims = runtime().interactions.claims
    assert claims.claim(caller.tenant_id, {**sent, "weight": TYPE_WEIGHTS["purchase"]}, fingerprint(sent)) is None
    assert claims.get_row(claim_key(caller.tenant_id, "e-7"))["state"] == PENDING
    status, _, answer = call("POST", "/v1/interactions", caller=caller, body=body)
    assert status == 201 and answer["accepted"] == 1 and answer["duplicates"] == 0, answer
    assert claims.get_row(claim_key(caller.tenant_id, "e-7"))["state"] == STORED
    status, _, answer = call("POST", "/v1/interactions", caller=caller, body=body)
    assert status == 200 and answer["duplicates"] == 1
    assert [r["event_id"] for r in runtime().interactions.recent_for_user(caller.tenant_id, "u1", 5)] == ["e-7"]
    assert runtime().usage.totals(caller.tenant_id)["users"] == 1


def test_a_new_claim_is_stored_with_its_rows(aws, call):
    caller = aws.tenant()
    body = {"user_id": "u2", "item_id": "a", "type": "view", "event_id": "e-8", "session_id": "s"}
    assert call("POST", "/v1/interactions", caller=caller, body=body)[0] == 201
    claim = runtime().interactions.claims.get_row(claim_key(caller.tenant_id, "e-8"))
    assert claim["state"] == STORED and claim["event"]["item_id"] == "a"
    assert len(runtime().interactions.recent_for_session(caller.tenant_id, "s", 5)) == 1


def test_unprocessed_rows_of_events_without_ids_are_retried_not_dropped(aws, call, monkeypatch):
    """Events without an id need no claim and go in BatchWriteItem: rows DynamoDB hands back as
    unprocessed are sent again, and the request is answered as if nothing happened."""
    monkeypatch.setattr(dynamo, "_sleep", lambda s: None)
    caller = aws.tenant()
    assert call("POST", "/v1/interactions", caller=caller, body={"user_id": "u3", "item_id": "a", "type": "view"})[0] == 201
    events = [{"user_id": "u3", "item_id": f"i{n}", "type": "view", "session_id": "s3"} for n in range(30)]
    faults = DynamoFaults(seed=3, unprocessed=0.5)
    try:
        status, _, answer = call("POST", "/v1/interactions", caller=caller, body={"interactions": events})
    finally:
        faults.close()
    assert faults.injected["unprocessed"] and status == 201 and answer["accepted"] == 30, answer
    assert len(runtime().interactions.recent_for_user(caller.tenant_id, "u3", 100)) == 31
    assert len(runtime().interactions.recent_for_session(caller.tenant_id, "s3", 100)) == 30
