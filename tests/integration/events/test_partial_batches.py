"""Interactions taken entry by entry: the valid events of a batch are recorded, each invalid one is
reported by index; an event id reused for a different event is a conflict; nothing is claimed or
counted unless its rows landed, and what could not be stored is named in a 503."""

from __future__ import annotations

import pytest

from recengine.aws import dynamo
from recengine.runtime import runtime
from tests.integration.dynamo_faults import DynamoFaults


def history(caller, user: str) -> list[str]:
    return sorted(r["event_id"] for r in runtime().interactions.recent_for_user(caller.tenant_id, user, 100))


def users_counted(caller) -> int:
    return runtime().usage.totals(caller.tenant_id)["users"]


@pytest.fixture
def instant_backoff(monkeypatch):
    monkeypatch.setattr(dynamo, "_sleep", lambda s: None)


def test_one_bad_event_does_not_sink_its_batch(aws, call):
    caller = aws.tenant()
    good = {"user_id": "u1", "item_id": "a", "type": "view", "event_id": "e-1"}
    bad = {"user_id": "u2", "item_id": "b", "type": "view", "event_id": "e-2", "context": {"x": 10 ** 60}}
    status, _, body = call("POST", "/v1/interactions", caller=caller,
                           body={"interactions": [good, bad, {"item_id": 1}]})
    assert status == 207, body
    assert body["accepted"] == 1 and body["event_ids"] == ["e-1"]
    assert [r["index"] for r in body["rejected"]] == [1, 2]
    assert body["rejected"][0]["errors"][0]["field"] == "interactions.1.context.x"
    assert history(caller, "u1") == ["e-1"] and history(caller, "u2") == []
    assert users_counted(caller) == 1  # u2's event was refused: u2 is not counted
    # the client resends the whole batch after fixing the bad event: e-1 is a duplicate, e-2 new
    status, _, body = call("POST", "/v1/interactions", caller=caller,
                           body={"interactions": [good, {**bad, "context": {}}]})
    assert status == 201 and body["duplicate_event_ids"] == ["e-1"] and body["accepted"] == 1
    assert history(caller, "u2") == ["e-2"] and users_counted(caller) == 2


def test_a_batch_with_no_valid_event_is_422(aws, call):
    caller = aws.tenant()
    status, _, body = call("POST", "/v1/interactions", caller=caller,
                           body={"interactions": [{"user_id": "u", "item_id": "a", "type": "stare"}]})
    assert status == 422 and body["type"] == "/problems/validation-error"
    assert body["rejected"][0]["index"] == 0 and body["errors"][0]["field"] == "interactions.0.type"


@pytest.mark.parametrize("change", [{"user_id": "u2"}, {"item_id": "b"}, {"type": "click"}, {"value": 3.0},
                                    {"timestamp": 1.7e9 + 1}, {"context": {"device": "tv"}}])
def test_an_event_id_reused_for_another_event_is_a_conflict(aws, call, change):
    caller = aws.tenant()
    first = {"user_id": "u1", "item_id": "a", "type": "view", "event_id": "e-1", "timestamp": 1.7e9,
             "context": {"device": "web"}}
    assert call("POST", "/v1/interactions", caller=caller, body=first)[0] == 201
    status, _, body = call("POST", "/v1/interactions", caller=caller, body={**first, **change})
    assert status == 409 and body["type"] == "/problems/conflict", body
    assert body["rejected"][0]["errors"][0]["code"] == "conflict"
    status, _, body = call("POST", "/v1/interactions", caller=caller,
                           body={"interactions": [{**first, **change}, {**first, "event_id": "e-2"}]})
    assert status == 207 and body["accepted"] == 1 and body["event_ids"] == ["e-2"]
    conflict = {"field": "interactions.0.event_id", "code": "conflict",
                "message": "event id 'e-1' was already used for a different event"}
    assert body["rejected"] == [{"index": 0, "errors": [conflict]}]
    assert history(caller, "u1") == ["e-1", "e-2"] and history(caller, "u2") == []


def test_an_exact_repeat_is_a_duplicate_even_without_a_timestamp(aws, call):
    caller = aws.tenant()
    event = {"user_id": "u1", "item_id": "a", "type": "view", "event_id": "e-1", "context": {"n": 5}}
    assert call("POST", "/v1/interactions", caller=caller, body=event)[0] == 201
    status, _, body = call("POST", "/v1/interactions", caller=caller, body={**event, "context": {"n": 5.0}})
    assert status == 200 and body["duplicate_event_ids"] == ["e-1"]
    status, _, body = call("POST", "/v1/interactions", caller=caller,
                           body={"interactions": [event, {**event, "item_id": "z"}, {**event, "event_id": "e-2"}]})
    assert status == 207 and body["duplicate_event_ids"] == ["e-1"] and body["accepted"] == 1
    assert [r["index"] for r in body["rejected"]] == [1]
    assert history(caller, "u1") == ["e-1", "e-2"]


def test_events_the_store_could_not_write_are_named_in_a_503_and_nothing_of_them_counted(aws, call, instant_backoff):
    caller = aws.tenant()
    events = [{"user_id": f"u{i}", "item_id": "a", "type": "view", "event_id": f"e-{i}"} for i in range(3)]
    # every batch write leaves part of its rows unprocessed, and u1's row never gets through
    faults = DynamoFaults(seed=1, unprocessed=1.0, stuck=lambda table, item: item["pk"]["S"].endswith("#user#u1"))
    try:
        status, headers, body = call("POST", "/v1/interactions", caller=caller, body={"interactions": events})
    finally:
        faults.close()
    assert status == 503 and headers["Retry-After"] and body["type"] == "/problems/service-unavailable", body
    assert body["not_stored"] == [{"index": 1, "id": "e-1"}] and sorted(body["stored_ids"]) == ["e-0", "e-2"]
    stored = [u for u in ("u0", "u1", "u2") if history(caller, u)]
    assert sorted(f"e-{u[1:]}" for u in stored) == sorted(body["stored_ids"])
    assert users_counted(caller) == len(stored)  # only users whose events landed
    status, _, body = call("POST", "/v1/interactions", caller=caller, body={"interactions": events})
    assert status == 201 and sorted(body["event_ids"]) == ["e-0", "e-1", "e-2"]
    assert set(body["duplicate_event_ids"]) == {f"e-{u[1:]}" for u in stored}  # the retry completes the rest
    assert all(history(caller, f"u{i}") == [f"e-{i}"] for i in range(3)) and users_counted(caller) == 3
