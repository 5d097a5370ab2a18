"""moto made to behave like DynamoDB where tests and benchmarks rely on it: a cancelled
transaction still writes nothing when only the items it names are saved for the rollback."""

from __future__ import annotations

import contextlib

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local.moto_atomic import atomic_item_writes, item_scoped_rollback, partition_scoped_queries


def test_a_cancelled_transaction_changes_nothing_and_an_applied_one_everything(aws_credentials):
    with mock_aws(), item_scoped_rollback(), atomic_item_writes():
        db = boto3.client("dynamodb")
        db.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                   {"AttributeName": "sk", "KeyType": "RANGE"}],
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                              {"AttributeName": "sk", "AttributeType": "S"}])
        key = {"pk": {"S": "counter"}, "sk": {"S": "x"}}
        db.put_item(TableName="t", Item={**key, "n": {"N": "1"}})

        gate = {"pk": {"S": "gate"}, "sk": {"S": "x"}}
        db.put_item(TableName="t", Item={**gate, "open": {"BOOL": False}})

        def transact(marker: str) -> None:
            db.transact_write_items(TransactItems=[
                {"Update": {"TableName": "t", "Key": key, "UpdateExpression": "ADD n :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}}}},  # applied first, then undone
                {"Put": {"TableName": "t", "Item": {"pk": {"S": marker}, "sk": {"S": "x"}}}},
                {"ConditionCheck": {"TableName": "t", "Key": gate, "ConditionExpression": "#o = :yes",
                                    "ExpressionAttributeNames": {"#o": "open"},
                                    "ExpressionAttributeValues": {":yes": {"BOOL": True}}}}])

        with pytest.raises(ClientError, match="TransactionCanceled"):
            transact("m1")
        assert db.get_item(TableName="t", Key=key)["Item"]["n"] == {"N": "1"}
        assert "Item" not in db.get_item(TableName="t", Key={"pk": {"S": "m1"}, "sk": {"S": "x"}})
        db.put_item(TableName="t", Item={**gate, "open": {"BOOL": True}})
        transact("m2")
        assert db.get_item(TableName="t", Key=key)["Item"]["n"] == {"N": "2"}
        assert "Item" in db.get_item(TableName="t", Key={"pk": {"S": "m2"}, "sk": {"S": "x"}})


def _queries(db) -> list:
    """A spread of Query shapes on the table's own key and on an index, each paged to the end."""
    shapes = [
        {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "b"}}},
        {"KeyConditionExpression": "pk = :p AND sk > :s", "ScanIndexForward": False, "Limit": 3,
         "ExpressionAttributeValues": {":p": {"S": "b"}, ":s": {"S": "05"}}},
        {"KeyConditionExpression": "pk = :p AND begins_with(sk, :s)", "FilterExpression": "n > :n",
         "ExpressionAttributeValues": {":p": {"S": "a"}, ":s": {"S": "1"}, ":n": {"N": "3"}}},
        {"KeyConditionExpression": "pk = :p", "Select": "COUNT", "ExpressionAttributeValues": {":p": {"S": "c"}}},
        {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "missing"}}},
        {"IndexName": "by_g", "KeyConditionExpression": "g = :g", "ExpressionAttributeValues": {":g": {"S": "x"}}},
    ]
    out = []
    for shape in shapes:
        pages, start = [], None
        while True:
            page = db.query(TableName="t", **shape, **({"ExclusiveStartKey": start} if start else {}))
            pages.append({k: v for k, v in page.items() if k != "ResponseMetadata"})
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        out.append(pages)
    return out


def test_partition_scoped_queries_answer_as_moto_does(aws_credentials):
    """The patch hands moto's query one partition: every answer (order, pages, filters, counts, an
    index) must be what moto's own whole-table query gives."""
    answers = []
    for patched in (False, True):
        with mock_aws(), (partition_scoped_queries() if patched else contextlib.nullcontext()):
            db = boto3.client("dynamodb")
            db.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                       {"AttributeName": "sk", "KeyType": "RANGE"}],
                            AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "g")],
                            GlobalSecondaryIndexes=[{"IndexName": "by_g", "Projection": {"ProjectionType": "ALL"},
                                                     "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"},
                                                                   {"AttributeName": "sk", "KeyType": "RANGE"}]}])
            for pk in ("c", "a", "b"):
                for n in range(12):
                    db.put_item(TableName="t", Item={"pk": {"S": pk}, "sk": {"S": f"{(n * 7) % 12:02d}"},
                                                     "n": {"N": str(n)}, "g": {"S": "x" if n % 2 else "y"}})
            answers.append(_queries(db))
    assert answers[0] == answers[1]
    assert answers[1][0][0]["Count"] == 12 and len(answers[1][1]) > 1  # the shapes did read and page


def test_partition_scoped_queries_restore_moto(aws_credentials):
    from moto.dynamodb.models.table import Table

    query, all_items = Table.query, Table.all_items
    with partition_scoped_queries():
        assert Table.query is not query
    assert (Table.query, Table.all_items) == (query, all_items)


def _reads(db) -> list:
    """Every read whose items the fast path writes, over every attribute type (a binary one too)."""
    return [
        db.query(TableName="t", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "a"}}),
        db.query(TableName="t", KeyConditionExpression="pk = :p", Limit=2, ReturnConsumedCapacity="TOTAL",
                 ExpressionAttributeValues={":p": {"S": "a"}}),
        db.query(TableName="t", KeyConditionExpression="pk = :p", Select="COUNT",
                 ExpressionAttributeValues={":p": {"S": "a"}}),
        db.scan(TableName="t"),
        db.get_item(TableName="t", Key={"pk": {"S": "a"}, "sk": {"S": "1"}}),
        db.get_item(TableName="t", Key={"pk": {"S": "a"}, "sk": {"S": "missing"}}),
        db.get_item(TableName="t", Key={"pk": {"S": "bin"}, "sk": {"S": "1"}}),
        db.batch_get_item(RequestItems={"t": {"Keys": [{"pk": {"S": "a"}, "sk": {"S": str(n)}} for n in range(3)]}}),
        db.transact_get_items(TransactItems=[{"Get": {"TableName": "t", "Key": {"pk": {"S": "a"}, "sk": {"S": "2"}}}},
                                             {"Get": {"TableName": "t", "Key": {"pk": {"S": "bin"}, "sk": {"S": "1"}}}}]),
    ]


def test_fast_item_responses_answer_exactly_as_motos_serializer(aws_credentials):
    from local.moto_atomic import fast_item_responses

    answers = []
    for patched in (False, True):
        with mock_aws(), (fast_item_responses() if patched else contextlib.nullcontext()):
            db = boto3.client("dynamodb")
            db.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                       {"AttributeName": "sk", "KeyType": "RANGE"}],
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                  {"AttributeName": "sk", "AttributeType": "S"}])
            for n in range(3):
                db.put_item(TableName="t", Item={
                    "pk": {"S": "a"}, "sk": {"S": str(n)}, "n": {"N": f"{n}.5"}, "ok": {"BOOL": n % 2 == 0},
                    "none": {"NULL": True}, "tags": {"SS": ["x", "y"]}, "nums": {"NS": ["1", "2"]},
                    "meta": {"M": {"title": {"S": "é ünïcode \\\" quote"}, "list": {"L": [{"N": "1"}, {"S": "two"}]}}}})
            db.put_item(TableName="t", Item={"pk": {"S": "bin"}, "sk": {"S": "1"}, "blob": {"B": b"\x00\xffraw"}})
            answers.append([{k: v for k, v in r.items() if k != "ResponseMetadata"} for r in _reads(db)])
    assert answers[0] == answers[1]
    assert answers[1][6]["Item"]["blob"] == {"B": b"\x00\xffraw"}  # through moto's serializer: base64 on the wire
