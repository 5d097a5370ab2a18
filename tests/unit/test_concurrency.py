"""One request's independent calls run together: values come back in order, and an error is raised
only once every call has finished (none outlives the request)."""

from __future__ import annotations

import threading
import time

import pytest

from recengine.concurrency import done, gather, ready, start


def test_values_in_order_and_the_calls_overlap():
    barrier = threading.Barrier(3, timeout=5)  # passes only if the three run at the same time

    def call(n):
        return lambda: (barrier.wait(), n)[1]

    assert gather(call(1), call(2), call(3)) == [1, 2, 3]


def test_the_first_error_is_raised_after_every_call_finished():
    finished = []

    def slow():
        time.sleep(0.05)
        finished.append("slow")
        return 1

    def boom():
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        gather(boom, slow)
    assert finished == ["slow"]


def test_start_and_done_are_futures():
    assert start(lambda a, b: a + b, 2, 3).result(timeout=5) == 5
    assert done(7).result() == 7


def test_a_ready_value_is_answered_in_order_on_the_callers_thread(monkeypatch):
    from recengine import concurrency

    submitted = []
    real_start = concurrency.start
    monkeypatch.setattr(concurrency, "start", lambda fn: submitted.append(fn) or real_start(fn))
    assert gather(lambda: 0, ready("a"), lambda: 2, ready(None)) == [0, "a", 2, None]
    assert len(submitted) == 1  # only the call that does work went to the pool
