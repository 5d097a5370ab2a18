"""The ARNs (and the queue URL) of the template's resources, as the local IAM check and the tests
name them: one fake account and region."""

from __future__ import annotations

PARTITION, REGION, ACCOUNT = "aws", "us-east-1", "123456789012"


def table_arn(name: str) -> str:
    return f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{name}"


def bucket_arn(name: str) -> str:
    return f"arn:{PARTITION}:s3:::{name}"


def queue_arn(name: str) -> str:
    return f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{name}"


def secret_arn(name: str) -> str:
    return f"arn:{PARTITION}:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}"


def user_pool_arn(name: str) -> str:
    return f"arn:{PARTITION}:cognito-idp:{REGION}:{ACCOUNT}:userpool/{name}"


def emr_application_arn(name: str) -> str:
    return f"arn:{PARTITION}:emr-serverless:{REGION}:{ACCOUNT}:/applications/{name}"


def role_arn(name: str) -> str:
    return f"arn:{PARTITION}:iam::{ACCOUNT}:role/{name}"


def log_group_arn(name: str) -> str:
    return f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:{name}:*"


def queue_url(name: str) -> str:
    return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
