"""The serving cache and the scheduled training: the schedule trains tenants with new data, a
broken new version never replaces a good one, a retrained one is picked up after the refresh
interval."""

from __future__ import annotations

from recengine.runtime import runtime
from tests.conftest import load_event
from tests.integration.conftest import drain_training_queue, seed_shop, train_shop


def test_the_schedule_trains_a_tenant_with_new_data_once(aws, call, lambda_context):
    from local.gateway import load_handler
    from local.template import Route

    caller = aws.tenant()
    seed_shop(call, caller, users=15, items=20, events=6)
    dispatch = load_handler(Route("TrainDispatchFunction", "functions/train_dispatch/", "app.lambda_handler", "", "",
                                  False))
    first = dispatch(load_event("train_schedule"), lambda_context)
    assert [q["tenant_id"] for q in first["queued"]] == [caller.tenant_id]
    assert drain_training_queue(aws) == 1
    assert runtime().registry.live_model_id(caller.tenant_id)
    second = dispatch(load_event("train_schedule"), lambda_context)
    assert second["queued"] == [] and second["up_to_date"] == [caller.tenant_id]


def test_a_corrupt_new_version_is_skipped_and_the_previous_keeps_serving(trained_shop, call, monkeypatch):
    caller, _, first = trained_shop
    c = runtime()
    _, _, before = call("POST", "/v1/recommend", caller=caller, body={"user_id": "user-0002"})
    assert before["meta"]["model_id"] == first["model_id"]
    # A new live version whose artefact is missing from S3.
    c.registry.put_version(caller.tenant_id, {"model_id": "model_als-v9_broken", "status": "live"})
    c.registry.put_row({"tenant_id": caller.tenant_id, "model_id": "LIVE", "live_model_id": "model_als-v9_broken"})
    monkeypatch.setattr(c.models, "refresh_s", 0.0)
    status, _, after = call("POST", "/v1/recommend", caller=caller, body={"user_id": "user-0002"})
    assert status == 200 and after["meta"]["model_id"] == first["model_id"] and after["items"] == before["items"]


def test_a_retrained_model_is_picked_up_after_the_refresh_interval(trained_shop, call, monkeypatch):
    caller, _, first = trained_shop
    call("POST", "/v1/interactions", caller=caller, body={"user_id": "u-late", "item_id": "item-00001", "type": "like"})
    second = train_shop(caller)
    assert second["model_id"] != first["model_id"]
    monkeypatch.setattr(runtime().models, "refresh_s", 0.0)
    _, _, body = call("POST", "/v1/recommend", caller=caller, body={"user_id": "u-late"})
    assert body["meta"]["model_id"] == second["model_id"]


def test_a_due_check_runs_beside_the_request_that_notices_it(trained_shop, call, monkeypatch):
    """Past `refresh_s` the registry is read beside the request (which answers with the version it
    holds, no extra round trip), the next request serves the new version; past twice `refresh_s` the
    request reads the registry itself."""
    import threading
    import time

    caller, _, first = trained_shop
    c = runtime()
    offset = [0.0]
    monkeypatch.setattr(c.models, "clock", lambda: time.monotonic() + offset[0])
    monkeypatch.setattr(c.models, "refresh_s", 30.0)
    _, _, before = call("POST", "/v1/recommend", caller=caller, body={"user_id": "user-0002"})
    call("POST", "/v1/interactions", caller=caller, body={"user_id": "u-beside", "item_id": "item-00001", "type": "like"})
    second = train_shop(caller)
    live = first["model_id"] if before["meta"]["model_id"] == first["model_id"] else before["meta"]["model_id"]
    assert second["model_id"] != live

    readers: list[int] = []
    read_live = c.registry.live_model_id
    monkeypatch.setattr(c.registry, "live_model_id", lambda t: readers.append(threading.get_ident()) or read_live(t))
    offset[0] = 45.0
    _, _, during = call("POST", "/v1/recommend", caller=caller, body={"user_id": "u-beside"})
    assert during["meta"]["model_id"] == live
    deadline = time.monotonic() + 30
    while c.models._revalidating and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(readers) == 1 and readers[0] != threading.get_ident()
    _, _, after = call("POST", "/v1/recommend", caller=caller, body={"user_id": "u-beside"})
    assert after["meta"]["model_id"] == second["model_id"] and len(readers) == 1

    offset[0] = 45.0 + 61.0  # twice refresh_s past the last check: the request asks the registry itself
    call("POST", "/v1/recommend", caller=caller, body={"user_id": "u-beside"})
    assert readers[1:] == [threading.get_ident()]
