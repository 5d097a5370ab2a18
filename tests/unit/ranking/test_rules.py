"""Filter rules over item metadata: operators, missing fields, conditions and request values."""

from __future__ import annotations

import pytest

from recengine.ranking.schemas import Rule
from recengine.ranking.rules import compile_rules, first_failed

ITEM = {"category": "Books", "price": 12.5, "tags": ["sci-fi", "classic"], "stock": {"count": 3}, "new": False}


def one(**rule):
    compiled, notes = compile_rules([Rule(**rule)], [], {})
    assert not notes
    return compiled[0]


@pytest.mark.parametrize("rule,passes", [
    ({"field": "category", "op": "in", "value": ["books", "music"]}, True),  # case-insensitive
    ({"field": "category", "op": "eq", "value": "music"}, False),
    ({"field": "category", "op": "not_in", "value": ["books"]}, False),
    ({"field": "tags", "op": "in", "value": ["classic"]}, True),  # a list matches any of its values
    ({"field": "tags", "op": "ne", "value": "sci-fi"}, False),
    ({"field": "price", "op": "between", "value": [10, 20]}, True),
    ({"field": "price", "op": "lt", "value": 12.5}, False),
    ({"field": "price", "op": "lte", "value": "12.5"}, True),  # numbers compare as numbers
    ({"field": "price", "op": "gt", "value": "cheap"}, False),  # no number, no pass
    ({"field": "stock.count", "op": "gte", "value": 3}, True),  # nested field
    ({"field": "colour", "op": "eq", "value": "red"}, False),  # missing: excluded by positive tests...
    ({"field": "colour", "op": "not_in", "value": ["red"]}, True),  # ...kept by negative ones
    ({"field": "colour", "op": "missing"}, True),
    ({"field": "new", "op": "exists"}, True),
    ({"field": "new", "op": "eq", "value": False}, True),
])
def test_operators(rule, passes):
    assert one(**rule).passes(ITEM) is passes


def test_conditions_and_request_values():
    rules = [Rule(field="price", op="lte", value_from="attributes.budget"),
             Rule(field="category", op="in", value_from="segments"),
             Rule(field="tags", op="in", value=["classic"], when={"segments": ["collectors"]}),
             Rule(field="price", op="gt", value=100, when={"attribute": "tier", "equals": ["vip", "gold"]})]
    compiled, notes = compile_rules(rules, ["books", "collectors"], {"budget": 10, "tier": "basic"})
    assert [r.label for r in compiled] == ["price lte attributes.budget=10", "category in segments=['books', 'collectors']",
                                           "tags in ['classic']"]
    assert notes == [] and first_failed(compiled, ITEM).field == "price"
    compiled, notes = compile_rules(rules, [], {"tier": "gold"})
    assert [r.field for r in compiled] == ["category", "price"] and "attributes.budget not given" in notes[0]


def test_rule_validation():
    from pydantic import ValidationError

    for bad in ({"field": "a", "op": "eq"}, {"field": "a", "op": "eq", "value": 1, "value_from": "segments"},
                {"field": "a", "op": "between", "value": [1]}, {"field": "a b", "op": "exists"},
                {"field": "a", "op": "eq", "value": 1, "value_from": "attributes."}, {"field": "a", "op": "regex", "value": 1},
                {"field": "a", "op": "exists", "when": {}}):
        with pytest.raises(ValidationError):
            Rule.model_validate(bad)
