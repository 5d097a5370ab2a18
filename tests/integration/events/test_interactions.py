"""Interactions through the handler: idempotent by event id, retries complete a half-written attempt."""

from __future__ import annotations

import json

from recengine.runtime import runtime


def test_repeated_event_ids_are_not_counted_twice(aws, call):
    caller = aws.tenant()
    event = {"user_id": "u1", "session_id": "s1", "item_id": "a", "type": "like", "event_id": "e-1"}
    status, _, body = call("POST", "/v1/interactions", caller=caller, body={"interactions": [event]})
    assert status == 201 and body["accepted"] == 1
    status, _, body = call("POST", "/v1/interactions", caller=caller,
                           body={"interactions": [event, {**event, "event_id": "e-2"}]})
    assert body["accepted"] == 1 and body["duplicate_event_ids"] == ["e-1"]
    history = runtime().interactions.recent_for_user(caller.tenant_id, "u1", 10)
    assert sorted(r["event_id"] for r in history) == ["e-1", "e-2"]
    assert history[0]["weight"] == 4.0
    session = runtime().interactions.recent_for_session(caller.tenant_id, "s1", 10)
    assert len(session) == 2


def test_a_retry_completes_an_attempt_that_failed_after_claiming(aws, call, monkeypatch):
    from recengine.errors import StoreError
    from recengine.events import store as dynamo

    caller = aws.tenant()
    event = {"user_id": "u1", "item_id": "a", "type": "purchase", "event_id": "e-9", "timestamp": 1.7e9}

    def broken(db, rows):
        raise StoreError("batch_write_item failed (ProvisionedThroughputExceededException)")

    monkeypatch.setattr(dynamo, "batch_put", broken)
    # an event with an id is written with its claim in one transaction (ADR 0002): that write fails too
    monkeypatch.setattr(dynamo.ClaimStore, "commit", lambda self, items: broken(self.db, items))
    status, headers, body = call("POST", "/v1/interactions", caller=caller, body=event)
    assert status == 503 and headers["Retry-After"] and "Throughput" not in json.dumps(body)
    monkeypatch.undo()
    status, _, body = call("POST", "/v1/interactions", caller=caller, body=event)
    # The 503 stored nothing, so the retry is what records the event (completing the pending claim):
    # reported accepted once, and a further repeat is the duplicate.
    assert status == 201 and body["accepted"] == 1 and body["duplicates"] == 0
    status, _, body = call("POST", "/v1/interactions", caller=caller, body=event)
    assert status == 200 and body["duplicates"] == 1
    assert [r["event_id"] for r in runtime().interactions.recent_for_user(caller.tenant_id, "u1", 5)] == ["e-9"]
