"""POST /v1/interactions makes at most 2 sequential AWS round trips (#13, ADR 0002), whatever the
batch: botocore's calls are timed through the real handler, each held 30 ms so that calls in flight
together overlap for certain; overlapping calls are one round trip."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from botocore.client import BaseClient

HOLD_S = 0.03


@pytest.fixture
def timeline(monkeypatch):
    calls: list[tuple[float, float, str]] = []
    lock = threading.Lock()
    original = BaseClient._make_api_call

    def timed(self, operation, params):
        start = time.perf_counter()
        time.sleep(HOLD_S)  # a round trip's latency: lets concurrent calls overlap as they would in a region
        try:
            return original(self, operation, params)
        finally:
            with lock:
                calls.append((start, time.perf_counter(), operation))

    monkeypatch.setattr(BaseClient, "_make_api_call", timed)
    return calls


def round_trips(calls: list[tuple[float, float, str]]) -> int:
    groups: list[list[float]] = []
    for start, end, _ in sorted(calls):
        if groups and start < groups[-1][1]:
            groups[-1][1] = max(groups[-1][1], end)
        else:
            groups.append([start, end])
    return len(groups)


def _events(users: list[str], n: int, sessions: bool = True) -> list[dict]:
    return [{"user_id": users[i % len(users)], "item_id": f"i{i % 40}", "type": "view",
             "event_id": f"e-{uuid.uuid4().hex}", **({"session_id": f"s-{users[i % len(users)]}"} if sessions else {})}
            for i in range(n)]


@pytest.mark.parametrize(("n", "new_users"), [(1, False), (1, True), (500, False), (500, True)])
def test_interactions_take_at_most_two_round_trips(aws, call, timeline, n, new_users):
    caller = aws.tenant()
    known = [f"u{i}" for i in range(50)]
    assert call("POST", "/v1/interactions", caller=caller, body={"interactions": _events(known, 50)})[0] == 201
    users = [f"new-{uuid.uuid4().hex[:8]}-{i}" for i in range(50)] if new_users else known
    timeline.clear()
    status, _, body = call("POST", "/v1/interactions", caller=caller, body={"interactions": _events(users, n)})
    assert status == 201 and body["accepted"] == n, body
    assert round_trips(timeline) <= 2, sorted(timeline)


def test_a_retry_of_duplicates_is_answered_in_two_round_trips(aws, call, timeline):
    caller = aws.tenant()
    events = _events(["u1", "u2"], 20)
    assert call("POST", "/v1/interactions", caller=caller, body={"interactions": events})[0] == 201
    timeline.clear()
    status, _, body = call("POST", "/v1/interactions", caller=caller, body={"interactions": events[:1]})
    assert status == 200 and body["duplicates"] == 1
    assert round_trips(timeline) <= 2, sorted(timeline)
