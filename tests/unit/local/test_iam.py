"""local/iam.py reads IAM as AWS does: a transaction's items are checked one by one, a query on an
index against the index, a listing against its grant's prefix condition, a standalone policy reaches
the roles it names, and a call it cannot map fails instead of passing unseen."""

from __future__ import annotations

import pytest

from local.iam import (Names, Need, Statement, UnmappedCallError, allowed, function_statements, names_from_environment,
                       needs, resolve, secret_arn, table_arn)

SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:test/PseudonymSecret-AbCdEf"
NAMES = names_from_environment({"USAGE_TABLE": "u", "INTERACTIONS_TABLE": "i", "MODEL_BUCKET": "b",
                                "TRAIN_QUEUE_URL": "https://queue/train", "PSEUDONYM_SECRET_ID": SECRET})


def test_a_transaction_needs_each_of_its_items_own_action():
    items = {"TransactItems": [{"Put": {"TableName": "u", "Item": {}}}, {"Update": {"TableName": "u", "Key": {}}},
                               {"Delete": {"TableName": "u", "Key": {}}},
                               {"ConditionCheck": {"TableName": "i", "Key": {}}}]}
    assert [(n.action, n.resource) for n in needs("dynamodb", "TransactWriteItems", items, NAMES)] == [
        ("dynamodb:PutItem", table_arn("UsageTable")), ("dynamodb:UpdateItem", table_arn("UsageTable")),
        ("dynamodb:DeleteItem", table_arn("UsageTable")),
        ("dynamodb:ConditionCheckItem", table_arn("InteractionsTable"))]


def test_batches_are_checked_per_table_and_queries_on_an_index_against_the_index():
    batch = {"RequestItems": {"u": {"Keys": []}, "i": {"Keys": []}}}
    assert {n.resource for n in needs("dynamodb", "BatchGetItem", batch, NAMES)} == \
        {table_arn("UsageTable"), table_arn("InteractionsTable")}
    (query,) = needs("dynamodb", "Query", {"TableName": "i", "IndexName": "by_tenant"}, NAMES)
    assert query.resource == table_arn("InteractionsTable") + "/index/by_tenant"


def test_s3_and_sqs_calls_need_their_documented_actions():
    head = needs("s3", "HeadObject", {"Bucket": "b", "Key": "k"}, NAMES)
    assert head == [Need("s3:GetObject", "arn:aws:s3:::ModelBucket/k")]
    deleted = needs("s3", "DeleteObjects", {"Bucket": "b", "Delete": {"Objects": [{"Key": "x"}, {"Key": "y"}]}}, NAMES)
    assert [n.action for n in deleted] == ["s3:DeleteObject"] * 2
    (listing,) = needs("s3", "ListObjectsV2", {"Bucket": "b", "Prefix": "tenants/t/"}, NAMES)
    assert listing == Need("s3:ListBucket", "arn:aws:s3:::ModelBucket", (("s3:prefix", "tenants/t/"),))
    (sent,) = needs("sqs", "SendMessageBatch", {"QueueUrl": "https://queue/train", "Entries": []}, NAMES)
    assert sent.action == "sqs:SendMessage" and sent.resource.endswith(":TrainQueue")


def test_an_unknown_operation_or_resource_is_a_failure_not_a_skip():
    with pytest.raises(UnmappedCallError):
        needs("dynamodb", "ExecuteStatement", {"Statement": "SELECT * FROM u"}, NAMES)
    with pytest.raises(UnmappedCallError):
        needs("kms", "Decrypt", {"CiphertextBlob": b"x"}, NAMES)
    with pytest.raises(UnmappedCallError):
        needs("secretsmanager", "PutSecretValue", {"SecretId": SECRET, "SecretString": "x"}, NAMES)
    with pytest.raises(LookupError, match="no environment variable"):
        needs("dynamodb", "GetItem", {"TableName": "someone-elses-table"}, NAMES)
    with pytest.raises(LookupError, match="no environment variable"):
        needs("secretsmanager", "GetSecretValue", {"SecretId": "someone-elses-secret"}, NAMES)


def test_reading_the_pseudonym_key_is_granted_on_that_secret_to_the_functions_that_pseudonymise_only():
    (read,) = needs("secretsmanager", "GetSecretValue", {"SecretId": SECRET}, NAMES)
    assert read == Need("secretsmanager:GetSecretValue", secret_arn("PseudonymSecret"))
    assert resolve({"Ref": "PseudonymSecret"}) == secret_arn("PseudonymSecret")
    assert allowed(function_statements("RecommendFunction"), read)
    assert allowed(function_statements("InteractionsFunction"), read)
    assert not allowed(function_statements("SimilarFunction"), read)
    assert not allowed(function_statements("RecommendFunction"),
                       Need("secretsmanager:GetSecretValue", secret_arn("SomeOtherSecret")))


def test_sam_policy_templates_standalone_policies_and_prefix_conditions_are_read_from_the_template():
    meter = Need("dynamodb:PutItem", table_arn("UsageTable"))
    assert allowed(function_statements("RecommendFunction"), meter)  # MeteringPolicy names its role
    assert not allowed(function_statements("BillingFunction"), meter)
    read = function_statements("SimilarFunction")  # DynamoDBReadPolicy, as SAM expands it
    assert allowed(read, Need("dynamodb:Query", table_arn("ItemsTable") + "/index/any"))
    assert not allowed(read, Need("dynamodb:PutItem", table_arn("ItemsTable")))
    train = function_statements("TrainFunction")
    inside = Need("s3:ListBucket", "arn:aws:s3:::ModelBucket", (("s3:prefix", "tenants/t/models/m/"),))
    outside = Need("s3:ListBucket", "arn:aws:s3:::ModelBucket", (("s3:prefix", "tenants/t/batch/"),))
    assert allowed(train, inside) and not allowed(train, outside)
    assert not allowed(train, Need("s3:ListBucket", "arn:aws:s3:::ModelBucket"))  # no prefix: condition unmet
    assert allowed(train, Need("sqs:ReceiveMessage", "arn:aws:sqs:us-east-1:123456789012:TrainQueue"))  # its event


def test_wildcards_and_an_explicit_deny():
    grant = Statement("Allow", ("sqs:SendMessage*",), ("arn:aws:s3:::ModelBucket/tenants/*/batch/*",))
    deny = Statement("Deny", ("*",), ("arn:aws:s3:::ModelBucket/tenants/secret/*",))
    assert allowed([grant], Need("SQS:sendmessagebatch", "arn:aws:s3:::ModelBucket/tenants/t/batch/j/part"))
    assert not allowed([grant], Need("sqs:SendMessage", "arn:aws:s3:::ModelBucket/tenants/t/models/m"))
    assert not allowed([grant, deny], Need("sqs:SendMessage", "arn:aws:s3:::ModelBucket/tenants/secret/batch/x"))


def test_intrinsics_resolve_to_the_same_arns_calls_are_mapped_to():
    models = resolve({"Fn::Sub": "${ModelBucket.Arn}/tenants/*/models/*"})
    assert models == "arn:aws:s3:::ModelBucket/tenants/*/models/*"
    assert resolve({"Fn::GetAtt": ["UsageTable", "Arn"]}) == table_arn("UsageTable")
    assert resolve({"Fn::GetAtt": "TrainQueue.QueueName"}) == "TrainQueue"
    with pytest.raises(ValueError, match="unsupported intrinsic"):
        resolve({"Fn::ImportValue": "elsewhere"})


def test_names_come_from_the_templates_environment_variables():
    assert NAMES == Names({"u": "UsageTable", "i": "InteractionsTable"}, {"b": "ModelBucket"},
                          {"https://queue/train": "TrainQueue"}, {SECRET: "PseudonymSecret"})
