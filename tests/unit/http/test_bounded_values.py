"""Validation at the edge: what DynamoDB would refuse (or a reader could not read) is a 422 naming
the field, JSON that is not JSON (NaN, lone surrogates, nesting too deep to parse) a 400, and every
answer is valid JSON."""

from __future__ import annotations

import json

import pytest

from recengine.catalogue.schemas import ItemIn
from recengine.events.schemas import InteractionIn
from recengine.http.app import dump_json, parse_json, validate
from recengine.http.problems import MalformedJson, ValidationFailed
from recengine.ranking.schemas import RecommendRequest

EVENT = {"user_id": "u", "item_id": "i", "type": "view"}


def _fields(model, data) -> list[tuple[str, str]]:
    with pytest.raises(ValidationFailed) as caught:
        validate(model, data)
    return [(e["field"], e["code"]) for e in caught.value.errors]


@pytest.mark.parametrize("metadata, field", [
    ({"": 1}, "metadata"),
    ({"k" * 129: 1}, "metadata"),
    ({"price": 7.07e154}, "metadata.price"),
    ({"price": 1e-200}, "metadata.price"),
    ({"price": float("nan")}, "metadata.price"),
    ({"price": float("inf")}, "metadata.price"),
    ({"big": 10 ** 60}, "metadata.big"),
    ({"a": {"b": [1, {"c": float("nan")}]}}, "metadata.a.b.1.c"),
    ({"a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": 1}}}}}}}}}, "metadata.a.a.a.a.a.a.a.a"),
    ({"text": "bad \ud800 text"}, "metadata.text"),
])
def test_item_metadata_dynamodb_would_refuse_is_named(metadata, field):
    assert _fields(ItemIn, {"id": "a", "metadata": metadata}) == [(field, "invalid_json_value")]


def test_top_level_extras_are_metadata_and_bounded_the_same_way():
    assert _fields(ItemIn, {"id": "a", "": "x"}) == [("metadata", "invalid_json_value")]
    assert _fields(ItemIn, {"id": "a", "blob": "x" * 20_000}) == [("metadata", "too_large")]
    fine = ItemIn.model_validate({"id": "a", "price": 9.99e125, "tiny": -1e-130, "n": 10 ** 37, "deep": {"a": [[1]]}})
    assert fine.metadata["price"] == 9.99e125


@pytest.mark.parametrize("context, field, code", [
    ({"a": float("nan")}, "context.a", "invalid_context_value"),
    ({"a": 10 ** 60}, "context.a", "invalid_context_value"),
    ({"a": 7.07e154}, "context.a", "invalid_context_value"),
    ({"a": "x" * 450_000}, "context.a", "invalid_context_value"),
    ({"": 1}, "context..[key]", "string_too_short"),
    ({f"k{i}": i for i in range(33)}, "context", "too_long"),
])
def test_interactions_and_recommend_share_the_context_bounds(context, field, code):
    assert _fields(InteractionIn, {**EVENT, "context": context}) == [(field, code)]
    assert _fields(RecommendRequest, {"user_id": "u", "context": context}) == [(field, code)]


def test_recommend_attributes_and_rule_values_are_bounded():
    assert _fields(RecommendRequest, {"user_id": "u", "attributes": {"a": float("nan")}}) == [
        ("attributes.a", "invalid_json_value")]
    assert _fields(RecommendRequest, {"user_id": "u", "filters": {"range": {"price": {"min": float("inf")}}}})
    assert _fields(RecommendRequest, {"user_id": "u", "rules": [{"field": "a", "op": "eq", "value": float("nan")}]})


@pytest.mark.parametrize("raw", ['{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}', "[" * 100_000 + "]" * 100_000,
                                 '{"id": "\\ud800"}', '{"id": "\ud800"}'])
def test_json_that_is_not_json_is_malformed(raw):
    with pytest.raises(MalformedJson):
        parse_json(raw)


def test_valid_surrogate_pairs_and_big_numbers_parse():
    assert parse_json('"\\ud83d\\ude00"') == "\U0001F600"
    assert parse_json('{"a": 1e400}') == {"a": float("inf")}  # valid JSON: the schema then refuses it


def test_answers_are_always_valid_json():
    body = dump_json({"score": float("nan"), "nested": [float("inf"), 1.5]})
    assert json.loads(body) == {"score": None, "nested": [None, 1.5]} and "NaN" not in body


@pytest.mark.parametrize("value", [1e-138, 4.4e-133])
def test_an_event_value_too_small_for_dynamodb_is_refused_not_left_to_fail_its_write(value):
    """Found by fuzzing: such a weight passed `ge=0`, DynamoDB refused the history row, and the call was
    a 503 whose retry could never succeed."""
    assert _fields(InteractionIn, {**EVENT, "value": value}) == [("value", "number_out_of_range")]


def test_an_event_value_of_zero_or_in_range_is_kept():
    assert validate(InteractionIn, {**EVENT, "value": 0}).value == 0
    assert validate(InteractionIn, {**EVENT, "value": 1e-130}).value == 1e-130
