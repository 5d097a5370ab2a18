"""Claims left `pending` by the earlier two-step writes (claim, rows, then marked stored) whose rows
never landed: the retry of the event writes the claim's rows and completes it (ADR 0002 keeps that
path), reported accepted once; a further repeat is the duplicate."""

from __future__ import annotations

from recengine.events.claims import PENDING, STORED, claim_key
from recengine.events.model import TYPE_WEIGHTS, EventIn, fingerprint
from recengine.runtime import runtime


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
