"""Validation at the edge, through the handlers: what DynamoDB would refuse is a 4xx before any
write, and the tenant stays readable afterwards (the fuzzing findings of issue #12)."""

from __future__ import annotations

import json

import pytest

from recengine.runtime import runtime

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("raw", [
    '{"items": [{"id": "a", "price": NaN}]}',
    '{"items": [{"id": "a", "price": Infinity}]}',
    '{"items": ' + "[" * 100_000 + "]" * 100_000 + "}",
    '{"items": [{"id": "\\udc00"}]}',
])
def test_json_that_is_not_json_is_400_and_nothing_is_written(aws, call, raw):
    caller = aws.tenant()
    status, headers, body = call("POST", "/v1/items", caller=caller, raw_body=raw)
    assert status == 400 and body["type"] == "/problems/malformed-json", body
    assert headers["Content-Type"] == "application/problem+json"
    assert list(runtime().items.iter_items(caller.tenant_id)) == []


def test_fuzzed_item_bodies_are_refused_by_field_and_the_catalogue_stays_readable(aws, call):
    caller = aws.tenant()
    bad = [{"id": "empty-key", "": 1}, {"id": "long-key", "k" * 300: 1}, {"id": "huge", "price": 7.07e154},
           {"id": "tiny", "price": 1e-300}, {"id": "inf", "price": json.loads("1e400")},
           {"id": "digits", "n": 10 ** 60},
           {"id": "deep", "m": json.loads('{"a":' * 20 + "1" + "}" * 20)}]
    raw = json.dumps({"items": bad}).replace("Infinity", "1e400")
    status, _, body = call("POST", "/v1/items", caller=caller, raw_body=raw)
    assert status == 422 and body["type"] == "/problems/validation-error", body
    fields = {e["field"] for e in body["errors"]}
    assert {"items.0.metadata", "items.1.metadata", "items.2.metadata.price", "items.3.metadata.price",
            "items.4.metadata.price", "items.5.metadata.n"} <= fields
    assert any(f.startswith("items.6.metadata.m.a") for f in fields)
    status, _, body = call("GET", "/v1/items", caller=caller)
    assert status == 200 and body["items"] == []


@pytest.mark.parametrize("context", [{"a": 10 ** 60}, {"a": "x" * 450_000}, {"": 1}])
def test_an_event_context_dynamodb_would_refuse_is_422_not_500_or_503(aws, call, context):
    caller = aws.tenant()
    status, _, body = call("POST", "/v1/interactions", caller=caller,
                           body={"user_id": "u1", "item_id": "a", "type": "view", "event_id": "e-1",
                                 "context": context})
    assert status == 422 and body["type"] == "/problems/validation-error", body
    assert body["errors"][0]["field"].startswith("interactions.0.context")
    assert runtime().interactions.recent_for_user(caller.tenant_id, "u1", 5) == []


def test_a_nan_context_in_recommend_with_debug_is_refused_and_every_answer_is_json(aws, call):
    caller = aws.tenant()
    status, _, body = call("POST", "/v1/recommend", caller=caller,
                           raw_body='{"user_id": "u1", "debug": true, "context": {"x": NaN}}')
    assert status == 400 and body["type"] == "/problems/malformed-json"
    status, _, body = call("POST", "/v1/recommend", caller=caller,
                           raw_body='{"user_id": "u1", "debug": true, "context": {"x": 1e400}}')
    assert status == 422 and body["errors"][0]["field"] == "context.x"
    status, _, body = call("POST", "/v1/recommend", caller=caller,
                           raw_body='{"user_id": "u1", "debug": true, "context": ' + DEEP + "}")
    assert status == 400 and body["type"] == "/problems/malformed-json"
    status, _, body = call("POST", "/v1/recommend", caller=caller, body={"user_id": "u1", "debug": True,
                                                                       "context": {"x": 1.5}})
    assert status == 200 and isinstance(body, dict), body
