"""The request-path benchmark (issue #13): its round-trip and time-in-AWS arithmetic on synthetic call
timelines, and a smoke run of the script through the real handlers on a tiny shop."""

from __future__ import annotations

import json
import threading
import time

import pytest

from bench.request_path import (GATEWAY_MS, ROUND_TRIP_MS, Recorder, Sample, instrumented, main, merged,
                                percentile, round_trips, summarise, table, time_in_calls)


def test_no_calls_are_no_round_trips():
    assert round_trips([]) == 0 and time_in_calls([]) == 0


def test_sequential_calls_are_one_round_trip_each():
    calls = [(0.0, 1.0), (1.5, 2.0), (3.0, 4.5)]
    assert round_trips(calls) == 3
    assert time_in_calls(calls) == pytest.approx(3.0)


def test_calls_touching_end_to_start_are_sequential():
    assert round_trips([(0.0, 1.0), (1.0, 2.0)]) == 2  # the second began as the first answered


def test_overlapping_calls_are_one_round_trip():
    calls = [(2.0, 3.0), (0.0, 1.0), (0.5, 1.5), (1.2, 1.8)]  # unsorted; a chain of overlaps, then one more
    assert round_trips(calls) == 2
    assert merged(calls) == [(0.0, 1.8), (2.0, 3.0)]
    assert time_in_calls(calls) == pytest.approx(2.8)  # overlaps counted once


def test_nested_calls_are_one_round_trip():
    calls = [(0.0, 10.0), (1.0, 2.0), (3.0, 9.0), (12.0, 13.0)]
    assert round_trips(calls) == 2
    assert time_in_calls(calls) == pytest.approx(11.0)


def test_modelled_latency_is_compute_plus_round_trips_plus_gateway():
    sample = Sample(200, wall_ms=30.0, aws_ms=22.0, calls=5, round_trips=3, operations=[])
    assert sample.compute_ms == pytest.approx(8.0)
    assert sample.modelled_ms == pytest.approx(8.0 + 3 * ROUND_TRIP_MS + GATEWAY_MS)


def test_percentile_is_an_observed_value():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0 and percentile(values, 99) == 99.0 and percentile([7.0], 99) == 7.0


def test_a_route_passes_only_within_its_round_trips_and_recommends_latency_goal():
    def samples(trips: int, compute_ms: float, status: int = 200) -> list[Sample]:
        return [Sample(status, compute_ms + trips, float(trips), trips, trips, []) for _ in range(5)]

    assert summarise("recommend (user)", samples(2, 3.0))["verdict"] == "PASS"  # 3 + 12 + 10 = 25 ms
    assert summarise("recommend (user)", samples(3, 1.0))["verdict"] == "MISS"  # one round trip too many
    assert summarise("recommend (user)", samples(2, 4.0))["verdict"] == "MISS"  # 26 ms modelled
    assert summarise("similar", samples(1, 40.0))["verdict"] == "PASS"  # no latency goal for similar
    assert summarise("similar", samples(2, 1.0))["verdict"] == "MISS"
    assert summarise("interactions (1 event)", samples(2, 1.0, status=503))["verdict"] == "MISS"  # errors
    printed = table([summarise("recommend (user)", samples(2, 3.0))])
    assert "| recommend (user) | 2 | 2 / 2 | 3.0 / 3.0 | 25.0 / 25.0 |" in printed and printed.endswith("PASS |")


def test_concurrent_botocore_calls_from_threads_are_recorded_as_one_round_trip():
    """The wrapper times calls in the thread that makes them: two calls in flight together, one trip."""
    from botocore.client import BaseClient

    class Fake:
        meta = type("Meta", (), {"service_model": type("Model", (), {"service_name": "dynamodb"})()})()

    original = BaseClient._make_api_call
    BaseClient._make_api_call = lambda self, op, params: time.sleep(0.05)
    try:
        recorder = Recorder()
        with instrumented(recorder), recorder.window() as calls:
            threads = [threading.Thread(target=BaseClient._make_api_call, args=(Fake(), "GetItem", {}))
                       for _ in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            BaseClient._make_api_call(Fake(), "PutItem", {})
    finally:
        BaseClient._make_api_call = original
    assert [c.operation for c in calls].count("GetItem") == 2 and len(calls) == 3
    assert round_trips([(c.start, c.end) for c in calls]) == 2


def test_a_call_names_the_tables_it_addresses():
    from bench.request_path import addressed

    assert addressed({"TableName": "items"}) == "items"
    assert addressed({"RequestItems": {"items": {}, "models": {}}}) == "items,models"
    transaction = {"TransactItems": [{"Update": {"TableName": "usage"}}, {"Put": {"TableName": "usage"}}]}
    assert addressed(transaction) == "usage"
    assert addressed({"Bucket": "models", "Key": "k"}) == "models" and addressed({}) == ""


def test_a_call_left_in_flight_after_the_answer_is_counted_apart():
    """Work moved off the critical path is not on the user's wait, but it stays visible."""
    from botocore.client import BaseClient

    from bench.request_path import measure

    class Fake:
        meta = type("Meta", (), {"service_model": type("Model", (), {"service_name": "dynamodb"})()})()

    release = threading.Event()
    original = BaseClient._make_api_call
    BaseClient._make_api_call = lambda self, op, params: release.wait(5) if op == "PutItem" else None
    background: list[threading.Thread] = []

    def handler() -> int:
        BaseClient._make_api_call(Fake(), "GetItem", {"TableName": "items"})
        background.append(threading.Thread(target=BaseClient._make_api_call, args=(Fake(), "PutItem", {})))
        background[0].start()
        time.sleep(0.02)  # the background call has started
        return 200

    try:
        recorder = Recorder()
        with instrumented(recorder):
            sample = measure(recorder, handler)
            release.set()
            background[0].join()
    finally:
        BaseClient._make_api_call = original
    assert sample.calls == 1 and sample.round_trips == 1 and sample.in_flight_after == 1
    assert sample.operations == ["dynamodb.GetItem items"]


def test_the_script_measures_every_route_on_a_tiny_shop(tmp_path, capsys):
    out = tmp_path / "request_path.json"
    assert main(["--requests", "2", "--heavy-requests", "1", "--users", "15", "--items", "25",
                 "--events-per-user", "4", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| recommend (user) |" in printed and "Goal (recommend)" in printed
    rows = {r["route"]: r for r in json.loads(out.read_text())["routes"]}
    assert set(rows) == {"recommend (user)", "recommend (user + session + context)", "recommend (2 placements)",
                         "recommend (rules + frequency cap)", "recommend (decision flow + experiment)", "similar",
                         "interactions (1 event)",
                         "interactions (500 events)"}
    for row in rows.values():
        assert row["errors"] == 0 and row["aws_calls_median"] >= 1
        assert 1 <= row["round_trips_median"] <= row["round_trips_max"]
        assert row["modelled_p50_ms"] >= row["compute_p50_ms"] + GATEWAY_MS
        assert row["verdict"] in ("PASS", "MISS")
