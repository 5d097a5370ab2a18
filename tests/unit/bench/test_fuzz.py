"""The fuzz runner's own rules (bench/fuzz.py): which checks, which statuses, what a report says."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

from bench.fuzz import CHECKS, Failure, FuzzReport, _replayable, _server_issued_cursors_only, config, format_report


def _config():
    return config("http://127.0.0.1:1", "rk_admin_secret", seed=1, max_examples=3, phases=("fuzzing",))


def test_exactly_the_three_checks_of_the_issue_run():
    project = _config().projects.get_default()
    enabled = {name for name in ("not_a_server_error", "response_schema_conformance", "positive_data_acceptance",
                                 "status_code_conformance", "content_type_conformance", "negative_data_rejection",
                                 "use_after_free", "ignored_auth", "unsupported_method")
               if getattr(project.checks, name).enabled}
    assert enabled == set(CHECKS)
    accepted = project.checks.positive_data_acceptance.expected_statuses
    assert {"402", "408"} <= set(accepted) and "400" not in accepted and "422" not in accepted


def test_a_made_up_cursor_is_dropped_on_the_items_listing_only():
    case = SimpleNamespace(operation=SimpleNamespace(label="GET /v1/items"), query={"cursor": "x", "limit": 3})
    assert _server_issued_cursors_only(None, case).query == {"limit": 3}
    other = SimpleNamespace(operation=SimpleNamespace(label="GET /v1/recommend"), query={"cursor": "x"})
    assert _server_issued_cursors_only(None, other).query == {"cursor": "x"}


def test_the_curl_replays_with_the_key_from_the_environment():
    curl = "curl -X GET -H 'x-api-key: rk_admin_secret' http://h/v1/models"
    assert _replayable(curl, "rk_admin_secret") == 'curl -X GET -H "x-api-key: $API_KEY" http://h/v1/models'


def test_the_report_groups_failures_and_counts_requests_per_operation():
    report = FuzzReport(requests=3, per_operation=Counter({"GET /v1/items": 2, "GET /health": 1}),
                        statuses={"GET /v1/items": Counter({500: 2})}, stop_reason="completed")
    report.failures = [Failure("GET /v1/items", "not_a_server_error", "Server error", "", 500, "curl a", "{}")] * 2
    text = format_report(report)
    assert "3 requests" in text and "2  GET /v1/items  (500×2)" in text
    assert "failures: 2 (1 distinct); not_a_server_error: 1" in text and "curl a" in text


def test_failures_of_one_operation_for_different_reasons_are_distinct_findings():
    def refused(message: str) -> Failure:
        answer = '{"status": 422, "errors": [{"field": "x", "message": "%s"}]}' % message
        return Failure("POST /v1/items", "positive_data_acceptance", "Schema-valid request rejected", "", 422, "c",
                       answer)

    report = FuzzReport(failures=[refused("ids must be unique"), refused("ids must be unique"), refused("too deep")])
    assert sorted(why for _, _, why in report.unique_failures()) == ["422 ids must be unique", "422 too deep"]


def test_a_finding_whose_answer_is_a_bare_array_is_reported_not_crashed_on():
    failure = Failure("GET /api/billing/invoices", "response_schema_conformance", "Response violates schema", "",
                      200, "c", "[]")
    assert failure.why == "200 Response violates schema"
    assert "GET /api/billing/invoices" in format_report(FuzzReport(failures=[failure]))


def test_repeated_placement_ids_are_dropped_and_ids_of_other_types_fuzzed_as_drawn():
    from bench.fuzz import _unique_placements

    body = {"placements": [{"placement_id": "a"}, {"placement_id": "a", "limit": 2}, {"placement_id": ["x"]},
                           {"placement_id": ["x"]}, "junk"]}
    case = _unique_placements(None, SimpleNamespace(body=body))
    assert case.body["placements"] == [{"placement_id": "a"}, {"placement_id": ["x"]}, {"placement_id": ["x"]}, "junk"]


def test_event_times_past_the_servers_clock_are_moved_into_the_past_on_interactions_only():
    import time

    from bench.fuzz import _clock_bound_timestamps

    future, old = time.time() + 10 ** 6, 1_000_000_000.0
    events = [{"timestamp": future}, {"timestamp": old}, {"timestamp": "2999-01-01T00:00:00Z"}, {"timestamp": "x"}]
    op = SimpleNamespace(method="post", path="/v1/interactions")
    case = _clock_bound_timestamps(None, SimpleNamespace(operation=op, body={"interactions": events}))
    stamps = [e["timestamp"] for e in case.body["interactions"]]
    assert stamps[0] < time.time() and stamps[1] == old and stamps[2][:4] != "2999" and stamps[3] == "x"
    other = SimpleNamespace(operation=SimpleNamespace(method="post", path="/v1/recommend"), body={"timestamp": future})
    assert _clock_bound_timestamps(None, other).body == {"timestamp": future}


def test_a_nested_context_past_its_bounds_across_levels_keeps_its_flat_keys_only():
    from bench.fuzz import _nested_context_within_bounds

    wide = {"device": "m", "a": {f"k{i}": i for i in range(40)}}  # 41 leaves: past the 32 a context holds
    twice = {"a.b": 1, "a": {"b": 2}}  # the same dotted key twice
    fine = {"device": "m", "location": {"city": "Paris"}}
    body = {"interactions": [{"context": wide}, {"context": twice}, {"context": fine}, {"context": {"x": 1}}]}
    case = _nested_context_within_bounds(None, SimpleNamespace(body=body))
    assert [e["context"] for e in case.body["interactions"]] == [{"device": "m"}, {"a.b": 1}, fine, {"x": 1}]
    recommend = _nested_context_within_bounds(None, SimpleNamespace(body={"context": {"a": {"b" * 70: 1}}}))
    assert recommend.body["context"] == {}  # `a.bbb...` is longer than a context key may be


def test_offers_past_their_cross_field_bounds_lose_the_field_at_fault_on_item_upserts_only():
    from bench.fuzz import _offers_within_bounds

    items = [{"id": "a", "offer": {"start_at": "2027-01-01T00:00:00Z", "end_at": "2026-01-01T00:00:00Z"}},
             {"id": "b", "offer": {"start_at": "0000-01-01T00:00:00Z", "creatives": [{"id": "c"}, {"id": "c"},
                                                                                    {"id": "d", "x": "y" * 5000}]}},
             {"id": "c", "offer": {"start_at": "2026-01-01T00:00:00Z", "end_at": "2027-01-01T00:00:00+01:00"}}]
    op = SimpleNamespace(label="POST /v1/items")
    case = _offers_within_bounds(None, SimpleNamespace(operation=op, body={"items": items}))
    offers = [i["offer"] for i in case.body["items"]]
    assert offers[0] == {"start_at": "2027-01-01T00:00:00Z"}
    assert offers[1] == {"creatives": [{"id": "c"}]}
    assert offers[2] == {"start_at": "2026-01-01T00:00:00Z", "end_at": "2027-01-01T00:00:00+01:00"}
    backwards = {"start_at": "2027-01-01T00:00:00Z", "end_at": "2026-01-01T00:00:00Z"}
    other = SimpleNamespace(operation=SimpleNamespace(label="POST /v1/recommend"),
                            body={"items": [{"id": "a", "offer": dict(backwards)}]})
    assert _offers_within_bounds(None, other).body["items"][0]["offer"] == backwards


def test_a_decisioning_request_gets_the_stacks_tenant_header_unless_it_sends_one():
    from bench import fuzz

    def case(body=None, query=None, headers=None, path="/api/v1/recommend"):
        return SimpleNamespace(body=body, query=query, headers=headers, operation=SimpleNamespace(path=path))

    fuzz.TENANT.update(id="demo-shop")
    try:
        assert fuzz._decisioning_tenant_header(None, case({"customerId": "c"})).headers == {"X-Tenant-Id": "demo-shop"}
        assert fuzz._decisioning_tenant_header(None, case(query={"customerId": "c"}, headers={"x-tenant-id": "x"})
                                               ).headers == {"x-tenant-id": "x"}  # the fuzzed value stays
        assert fuzz._decisioning_tenant_header(None, case({"userId": "u"})).headers is None
        assert fuzz._decisioning_tenant_header(None, case({"customerId": "c"}, path="/v1/recommend")).headers is None
    finally:
        fuzz.TENANT.clear()
