"""Creates the template's tables and bucket, and tenants with API keys, against whatever endpoint
boto3 is pointed at (moto in tests and locally)."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Mapping

import boto3

from recengine.tenancy.model import Tenant
from recengine.tenancy.roles import Role
from tools.admin.aws import ApiKeys
from tools.admin.tenants import TenantAdmin

from .template import (create_table_kwargs, load_template, queue_env_names, resources, secret_env_names, stage_name,
                       table_env_names, usage_plans)


def create_resources(prefix: str = "local", secret_values: Mapping[str, str] | None = None) -> dict[str, str]:
    """Creates every table, the bucket, the queues and the secrets (`secret_values` by logical id, else
    random); returns the env vars the functions read."""
    dynamodb = boto3.client("dynamodb")
    env: dict[str, str] = {}
    for var, logical_id in table_env_names().items():
        if logical_id not in resources("AWS::DynamoDB::Table"):
            continue
        physical = f"{prefix}-{logical_id}"
        dynamodb.create_table(**create_table_kwargs(logical_id, physical))
        env[var] = physical
    bucket = f"{prefix}-model-artefacts".lower()
    boto3.client("s3").create_bucket(Bucket=bucket)
    env["MODEL_BUCKET"] = bucket
    env.update(create_queues(prefix))
    env.update(create_secrets(prefix, secret_values))
    env.update(create_user_pool(prefix))
    return env


# moto checks release labels against the emr-X.Y.0 pattern and refuses the template's default
# (emr-spark-8.0.0, the label format of AWS's Spark 4 runtime); nothing runs on it locally (the job
# runs in PySpark's local mode), so the stand-in application carries the newest label moto accepts.
MOTO_RELEASE_LABEL = "emr-7.9.0"


def create_spark_application(prefix: str = "local") -> dict[str, str]:
    """The template's EMR Serverless application (SparkApplication) and the job runs' role ARN: the
    variables that turn on Spark training for large tenants (SPARK_APPLICATION_ID, SPARK_JOB_ROLE_ARN)."""
    app = boto3.client("emr-serverless").create_application(name=f"{prefix}-train", releaseLabel=MOTO_RELEASE_LABEL,
                                                            type="SPARK")
    return {"SPARK_APPLICATION_ID": app["applicationId"],
            "SPARK_JOB_ROLE_ARN": f"arn:aws:iam::123456789012:role/{prefix}-SparkJobRole"}


def create_secrets(prefix: str = "local", values: Mapping[str, str] | None = None) -> dict[str, str]:
    """Creates every Secrets Manager secret of the template, each with the given value or, as the
    template's GenerateSecretString would, a random one; returns the env vars naming them (ARNs)."""
    client = boto3.client("secretsmanager")
    arns: dict[str, str] = {}
    for logical_id in dict.fromkeys(secret_env_names().values()):
        value = (values or {}).get(logical_id) or secrets.token_hex(32)
        arns[logical_id] = client.create_secret(Name=f"{prefix}/{logical_id}", SecretString=value)["ARN"]
    return {var: arns[logical_id] for var, logical_id in secret_env_names().items()}


def create_stripe_secret(prefix: str, key: str) -> str:
    """A secret holding a Stripe key (the local stand-in's), as an operator creates one for
    StripeSecretArn; returns its ARN, what STRIPE_SECRET_ID names."""
    return boto3.client("secretsmanager").create_secret(Name=f"{prefix}/stripe-key", SecretString=key)["ARN"]


def create_queues(prefix: str = "local") -> dict[str, str]:
    """Creates every queue of the template (dead-letter queues first, then the queues that redrive
    to them); returns the env vars naming them (TRAIN_QUEUE_URL, BATCH_QUEUE_URL)."""
    sqs = boto3.client("sqs")
    queues = resources("AWS::SQS::Queue")
    urls: dict[str, str] = {}
    arns: dict[str, str] = {}
    for logical_id in sorted(queues, key=lambda q: "RedrivePolicy" in queues[q]["Properties"]):
        props = queues[logical_id]["Properties"]
        attributes = {"VisibilityTimeout": str(props.get("VisibilityTimeout", 30))}
        redrive = props.get("RedrivePolicy")
        if redrive:
            target = redrive["deadLetterTargetArn"]["Fn::GetAtt"]
            target = target.split(".")[0] if isinstance(target, str) else target[0]
            attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": arns[target],
                                                      "maxReceiveCount": str(redrive["maxReceiveCount"])})
        url = sqs.create_queue(QueueName=f"{prefix}-{logical_id}", Attributes=attributes)["QueueUrl"]
        urls[logical_id] = url
        arns[logical_id] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return {var: urls[logical_id] for var, logical_id in queue_env_names().items()}


def create_api(prefix: str = "local") -> tuple[str, dict[str, str]]:
    """A REST API with one usage plan per template plan; returns (api id, plan name -> plan id)."""
    apigw = boto3.client("apigateway")
    api_id = apigw.create_rest_api(name=f"{prefix}-api")["id"]
    plan_ids = {}
    for name, plan in usage_plans().items():
        created = apigw.create_usage_plan(
            name=f"{prefix}-{name}", apiStages=[{"apiId": api_id, "stage": stage_name()}],
            throttle={"rateLimit": plan.rate_limit, "burstLimit": plan.burst_limit},
            quota={"limit": plan.quota_limit, "period": plan.quota_period})
        plan_ids[name] = created["id"]
    return api_id, plan_ids


def create_tenant(tenants_table: str, name: str, plan: str, plan_ids: dict[str, str]) -> tuple[Tenant, str, str]:
    """Creates a tenant with one admin API key on its plan (as the admin CLI does); returns (tenant, key value,
    key id)."""
    if plan not in plan_ids:
        raise ValueError(f"unknown plan {plan!r}")
    issued = TenantAdmin(ApiKeys(), tenants_table, plan_ids).create_tenant(name, plan)
    return issued.tenant, issued.value, issued.key_id


def create_key(tenants_table: str, tenant_id: str, role: Role, plan_ids: dict[str, str]) -> tuple[str, str]:
    """One more API key with the role for the tenant (as `admin key create` does); returns (key value, key id)."""
    issued = TenantAdmin(ApiKeys(), tenants_table, plan_ids).create_key(tenant_id, role)
    return issued.value, issued.key_id


def template_description() -> str:
    return load_template().get("Description", "").strip()


def _jwks_url(pool_id: str) -> str:
    """Where the pool's public keys are: the local moto server serves them under the pool id; an
    in-process moto (tests) has no server, so its key file is read directly (moto signs every pool's
    tokens with the same key)."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        return f"{endpoint.rstrip('/')}/{pool_id}/.well-known/jwks.json"
    import gzip
    import tempfile

    import moto.cognitoidp

    packed = Path(moto.cognitoidp.__file__).parent / "resources" / "jwks-public.json.gz"
    target = Path(tempfile.gettempdir()) / "moto-cognito-jwks-public.json"
    target.write_bytes(gzip.decompress(packed.read_bytes()))
    return target.as_uri()


def create_user_pool(prefix: str = "local") -> dict[str, str]:
    """The template's portal user pool, its app client and groups, as declared; returns the env vars
    the authorizer and the portal functions read (COGNITO_*)."""
    idp = boto3.client("cognito-idp")
    declared = resources("AWS::Cognito::UserPool")["UserPool"]["Properties"]
    pool = idp.create_user_pool(PoolName=f"{prefix}-portal", UsernameAttributes=declared["UsernameAttributes"],
                                AutoVerifiedAttributes=declared["AutoVerifiedAttributes"],
                                AdminCreateUserConfig=declared["AdminCreateUserConfig"],
                                Policies=declared["Policies"], Schema=declared["Schema"])["UserPool"]
    client_props = resources("AWS::Cognito::UserPoolClient")["UserPoolClient"]["Properties"]
    client = idp.create_user_pool_client(
        UserPoolId=pool["Id"], ClientName=client_props["ClientName"], GenerateSecret=client_props["GenerateSecret"],
        ExplicitAuthFlows=client_props["ExplicitAuthFlows"], ReadAttributes=client_props["ReadAttributes"],
        WriteAttributes=client_props["WriteAttributes"])["UserPoolClient"]
    for group in resources("AWS::Cognito::UserPoolGroup").values():
        props = group["Properties"]
        idp.create_group(UserPoolId=pool["Id"], GroupName=props["GroupName"], Description=props.get("Description", ""))
    region = idp.meta.region_name
    return {"COGNITO_USER_POOL_ID": pool["Id"], "COGNITO_CLIENT_ID": client["ClientId"],
            "COGNITO_ISSUER": f"https://cognito-idp.{region}.amazonaws.com/{pool['Id']}",
            "COGNITO_JWKS_URL": _jwks_url(pool["Id"])}


def create_portal_admin(tenant_id: str, email: str, name: str = "Portal Admin") -> str:
    """An admin account of the tenant in the portal's user pool (the stack's own, by COGNITO_*);
    returns its generated password (printed once by `make run`)."""
    from recengine.portal.accounts import CognitoAccounts
    from recengine.portal.tokens import ADMIN_GROUP

    password = f"Demo-{secrets.token_urlsafe(12)}"
    CognitoAccounts(os.environ["COGNITO_USER_POOL_ID"], os.environ["COGNITO_CLIENT_ID"]).create_account(
        email, name, password, tenant_id, ADMIN_GROUP)
    return password
