"""moto made to behave like DynamoDB where tests and benchmarks rely on it: a cancelled
transaction still writes nothing when only the items it names are saved for the rollback."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local.moto_atomic import atomic_item_writes, item_scoped_rollback


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
