"""Our DynamoDB attribute-value codec against boto3's TypeSerializer/TypeDeserializer (what the
stores used before), on generated values: the same wire format, the same refusals, and the same
Python values back (numbers as int when integral, else float; sets as lists)."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer
from hypothesis import given, settings
from hypothesis import strategies as st

from recengine.aws.dynamo import deserialize, serialize

scalars = st.one_of(st.none(), st.booleans(), st.text(max_size=20), st.integers(-10**30, 10**30),
                    st.floats(allow_nan=False, allow_infinity=False), st.binary(max_size=8))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=5), inner, max_size=4)),
                      max_leaves=12)
sets = st.one_of(st.frozensets(st.text(max_size=5), min_size=1, max_size=4),
                 st.frozensets(st.integers(-1000, 1000), min_size=1, max_size=4))


def boto3_wire(value):
    """boto3's serialisation after the stores' old float-to-Decimal walk."""
    def decimals(v):
        if isinstance(v, float):
            return Decimal(repr(v))
        if isinstance(v, dict):
            return {k: decimals(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [decimals(x) for x in v]
        return v
    return TypeSerializer().serialize(decimals(value))


def plain(value):
    """boto3's deserialised value as the stores returned it."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Binary):
        return bytes(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, set)):
        return [plain(v) for v in value]
    return value


@settings(max_examples=300, deadline=None)
@given(values)
def test_the_wire_format_is_boto3s(value):
    try:
        theirs = boto3_wire(value)
    except (TypeError, ArithmeticError):  # out of DynamoDB's range: refused by both
        with pytest.raises((TypeError, ArithmeticError)):
            serialize({"v": value})
        return
    ours = serialize({"v": value})
    if value is None:
        assert ours == {}  # absent attributes are not written
        return
    assert ours["v"] == theirs


@settings(max_examples=300, deadline=None)
@given(values)
def test_values_read_back_as_boto3_gave_them(value):
    try:
        wire = boto3_wire(value)
    except (TypeError, ArithmeticError):
        return
    assert deserialize({"v": wire})["v"] == plain(TypeDeserializer().deserialize(wire))


@settings(max_examples=100, deadline=None)
@given(sets)
def test_sets(value):
    ours = serialize({"v": value})["v"]
    theirs = boto3_wire(value)
    assert {k: sorted(v) for k, v in ours.items()} == {k: sorted(v) for k, v in theirs.items()}
    assert sorted(deserialize({"v": ours})["v"]) == sorted(plain(TypeDeserializer().deserialize(theirs)))


@pytest.mark.parametrize("bad", [math.nan, math.inf, 10**40, object()])
def test_what_dynamodb_cannot_store_is_refused_as_boto3_refuses_it(bad):
    with pytest.raises(Exception) as ours:
        serialize({"v": bad})
    with pytest.raises(Exception):
        boto3_wire(bad)
    assert isinstance(ours.value, (TypeError, ArithmeticError))


def test_numpy_floats_are_numbers():
    import numpy as np

    assert serialize({"v": np.float64(0.25)}) == {"v": {"N": "0.25"}}


def test_an_empty_set_is_refused_before_dynamodb_would_refuse_it():
    with pytest.raises(TypeError):  # boto3 writes it, as an empty NS that DynamoDB answers 400
        serialize({"v": set()})
