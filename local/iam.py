"""IAM read off template.yaml, without AWS: what a template function's role is granted (its SAM
policy templates, inline statements, standalone AWS::IAM::Policy resources naming its role, and the
managed policies SAM attaches), and what one AWS API call needs (the IAM action and the resource ARN
IAM checks). Resources are named by their logical ids in one fixed account and region, so that a
grant and a call meet in the same ARN: `arn:aws:dynamodb:us-east-1:123456789012:table/UsageTable`.

tests/integration/test_iam_calls.py records the calls each function makes and checks each one here."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable, Mapping

# the ARNs of the template's resources live in arns.py; re-exported here for the tests
from .arns import (ACCOUNT, PARTITION, REGION, bucket_arn, emr_application_arn, log_group_arn,  # noqa: F401
                   queue_arn, queue_url, role_arn, secret_arn, table_arn, user_pool_arn)
from .template import load_template, resources

PSEUDO = {"AWS::Partition": PARTITION, "AWS::Region": REGION, "AWS::AccountId": ACCOUNT,
          "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": "stack"}

# AWS managed policies SAM attaches to every function role it creates (AWSLambdaBasicExecutionRole),
# with `Tracing: Active` (AWSXrayWriteOnlyAccess), and per SQS event source
# (samtranslator.model.eventsources.pull.SQS.get_policy_arn: AWSLambdaSQSQueueExecutionRole).
MANAGED = {
    "AWSLambdaBasicExecutionRole": [("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents")],
    "AWSXrayWriteOnlyAccess": [("xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules",
                                "xray:GetSamplingTargets", "xray:GetSamplingStatisticSummaries")],
    "AWSLambdaSQSQueueExecutionRole": [("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                                        "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents")],
}


class UnmappedCallError(LookupError):
    """An API call this module cannot yet turn into IAM actions: add it to NEEDS (a decision, not a skip)."""


def _ref(logical_id: str, template: dict) -> str:
    if logical_id in PSEUDO:
        return PSEUDO[logical_id]
    if logical_id in template.get("Parameters", {}):
        return str(template["Parameters"][logical_id].get("Default", logical_id))
    kind = template["Resources"].get(logical_id, {}).get("Type")
    if kind == "AWS::SQS::Queue":
        return queue_url(logical_id)
    if kind == "AWS::SecretsManager::Secret":  # Ref gives a secret's ARN
        return secret_arn(logical_id)
    if kind is None:
        raise ValueError(f"Ref to unknown {logical_id!r}")
    return logical_id  # tables, buckets: their name


def _get_att(logical_id: str, attribute: str, template: dict) -> str:
    kind = template["Resources"].get(logical_id, {}).get("Type")
    arns = {"AWS::DynamoDB::Table": table_arn, "AWS::S3::Bucket": bucket_arn, "AWS::SQS::Queue": queue_arn,
            "AWS::Cognito::UserPool": user_pool_arn, "AWS::EMRServerless::Application": emr_application_arn,
            "AWS::IAM::Role": role_arn, "AWS::Logs::LogGroup": log_group_arn}
    if attribute == "Arn" and kind in arns:
        return arns[kind](logical_id)
    if (kind, attribute) == ("AWS::SQS::Queue", "QueueName"):
        return logical_id
    raise ValueError(f"unsupported Fn::GetAtt {logical_id}.{attribute} ({kind})")


def resolve(value: Any, template: dict | None = None) -> Any:
    """Evaluates Ref, Fn::GetAtt and Fn::Sub in a policy fragment; anything else fails loudly."""
    template = template or load_template()
    if isinstance(value, list):
        return [resolve(v, template) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (key, arg), = value.items()
        if key == "Ref":
            return _ref(arg, template)
        if key == "Fn::GetAtt":
            logical_id, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
            return _get_att(logical_id, attribute, template)
        if key == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else arg
            values = {k: resolve(v, template) for k, v in variables.items()}

            def substitute(match: re.Match) -> str:
                name = match.group(1)
                if name in values:
                    return str(values[name])
                if "." in name and name not in PSEUDO:
                    return _get_att(*name.split(".", 1), template)
                return _ref(name, template)

            return re.sub(r"\$\{([^}!]+)\}", substitute, text)
        if key.startswith("Fn::") or key == "Condition":
            raise ValueError(f"unsupported intrinsic {key} in a policy")
    return {k: resolve(v, template) for k, v in value.items()}


# ------------------------------------------------------------------ what a role is granted
def _wildcard(pattern: str, case_sensitive: bool) -> re.Pattern:
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("^" + "".join(parts) + "$", 0 if case_sensitive else re.IGNORECASE)


@dataclass(frozen=True)
class Need:
    """What one API call needs: an IAM action on a resource, with the condition keys it carries."""

    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: tuple[tuple[str, str, tuple[str, ...]], ...] = ()  # (operator, key, values)
    source: str = ""  # which policy of the template granted it
    _patterns: tuple = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_patterns", (
            [_wildcard(a, case_sensitive=False) for a in self.actions],
            [_wildcard(r, case_sensitive=True) for r in self.resources]))

    def covers(self, need: Need) -> bool:
        actions, resources_ = self._patterns
        if not any(p.match(need.action) for p in actions) or not any(p.match(need.resource) for p in resources_):
            return False
        context = dict(need.context)
        for operator, key, values in self.conditions:
            if key not in context:
                return False  # IAM: a condition on a key the request does not carry is not met
            if operator in ("StringLike", "ForAllValues:StringLike"):  # one value per request here
                if not any(_wildcard(v, case_sensitive=True).match(context[key]) for v in values):
                    return False
            elif operator == "StringEquals":
                if context[key] not in values:
                    return False
            else:
                raise ValueError(f"unsupported condition operator {operator} ({self.source})")
        return True


def allowed(statements: Iterable[Statement], need: Need) -> bool:
    """IAM's evaluation within one account: some Allow covers the need and no Deny does."""
    statements = list(statements)
    return any(s.covers(need) for s in statements if s.effect == "Allow") and \
        not any(s.covers(need) for s in statements if s.effect == "Deny")


def _as_tuple(value: Any) -> tuple[str, ...]:
    return tuple(value) if isinstance(value, list) else (value,)


def _statements(document: dict, source: str, template: dict) -> list[Statement]:
    raw = document["Statement"]
    found = []
    for statement in [raw] if isinstance(raw, dict) else raw:
        if "NotAction" in statement or "NotResource" in statement:
            raise ValueError(f"NotAction / NotResource are not supported ({source})")
        conditions = tuple((operator, key, _as_tuple(resolve(values, template)))
                           for operator, keys in (statement.get("Condition") or {}).items()
                           for key, values in keys.items())
        found.append(Statement(statement.get("Effect", "Allow"), _as_tuple(statement["Action"]),
                               _as_tuple(resolve(statement["Resource"], template)), conditions, source))
    return found


@lru_cache(maxsize=1)
def _policy_templates() -> Any:
    """SAM's own policy templates (the JSON samtranslator ships), with its parameter substitution."""
    from samtranslator.policy_template_processor.processor import PolicyTemplatesProcessor

    return PolicyTemplatesProcessor(PolicyTemplatesProcessor.get_default_policy_templates_json())


def _managed(name: str, source: str) -> list[Statement]:
    return [Statement("Allow", actions, ("*",), (), f"{name} ({source})") for actions in MANAGED[name]]


def function_statements(function: str, template: dict | None = None) -> list[Statement]:
    """Every statement a SAM function's role holds, as template.yaml defines it."""
    template = template or load_template()
    props = resources("AWS::Serverless::Function", template)[function]["Properties"]
    found = _managed("AWSLambdaBasicExecutionRole", "every SAM function role")
    tracing = props.get("Tracing", template.get("Globals", {}).get("Function", {}).get("Tracing"))
    if tracing == "Active":
        found += _managed("AWSXrayWriteOnlyAccess", "Tracing: Active")
    policies = props.get("Policies") or []
    for policy in [policies] if isinstance(policies, (str, dict)) else policies:
        if isinstance(policy, str):
            raise ValueError(f"{function}: managed policy {policy!r} is not modelled in local/iam.py")
        if "Statement" in policy:
            found += _statements(policy, f"{function} inline statement", template)
            continue
        (name, parameters), = policy.items()
        processor = _policy_templates()
        if not processor.has(name):
            raise ValueError(f"{function}: {name} is not a SAM policy template")
        label = f"{name}({', '.join(str(resolve(v, template)) for v in (parameters or {}).values())})"
        found += _statements(processor.convert(name, parameters or {}), label, template)
    for event_name, event in (props.get("Events") or {}).items():
        if event["Type"] == "SQS":
            found += _managed("AWSLambdaSQSQueueExecutionRole", f"SQS event {event_name}")
    role = {"Ref": f"{function}Role"}
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for name, policy in resources(kind, template).items():
            if role in (policy["Properties"].get("Roles") or []):
                found += _statements(policy["Properties"]["PolicyDocument"], name, template)
    return found


# ------------------------------------------------------------------ what a call needs
@dataclass(frozen=True)
class Names:
    """Physical names (as the function's environment gives them) -> the template's logical ids."""

    tables: Mapping[str, str]
    buckets: Mapping[str, str]
    queues: Mapping[str, str]  # by queue URL
    secrets: Mapping[str, str] = field(default_factory=dict)  # by ARN (what the environment gives)
    user_pools: Mapping[str, str] = field(default_factory=dict)  # by pool id
    applications: Mapping[str, str] = field(default_factory=dict)  # EMR Serverless, by application id
    roles: Mapping[str, str] = field(default_factory=dict)  # by role ARN

    def table(self, name: str) -> str:
        if name not in self.tables:
            raise LookupError(f"table {name!r} is named by no environment variable of the template")
        return table_arn(self.tables[name])

    def index(self, table: str, index: str | None) -> str:
        return self.table(table) + (f"/index/{index}" if index else "")

    def bucket(self, name: str) -> str:
        if name not in self.buckets:
            raise LookupError(f"bucket {name!r} is named by no environment variable of the template")
        return bucket_arn(self.buckets[name])

    def object(self, bucket: str, key: str) -> str:
        return f"{self.bucket(bucket)}/{key}"

    def queue(self, url: str) -> str:
        if url not in self.queues:
            raise LookupError(f"queue {url!r} is named by no environment variable of the template")
        return queue_arn(self.queues[url])

    def secret(self, secret_id: str) -> str:
        if secret_id not in self.secrets:
            raise LookupError(f"secret {secret_id!r} is named by no environment variable of the template")
        return secret_arn(self.secrets[secret_id])


    def user_pool(self, pool_id: str) -> str:
        if pool_id not in self.user_pools:
            raise LookupError(f"user pool {pool_id!r} is named by no environment variable of the template")
        return user_pool_arn(self.user_pools[pool_id])


    def application(self, application_id: str) -> str:
        if application_id not in self.applications:
            raise LookupError(f"EMR Serverless application {application_id!r} is named by no environment variable")
        return emr_application_arn(self.applications[application_id])

    def role(self, arn: str) -> str:
        if arn not in self.roles:
            raise LookupError(f"role {arn!r} is named by no environment variable of the template")
        return role_arn(self.roles[arn])


TRANSACT_WRITE = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                  "ConditionCheck": "ConditionCheckItem"}


def _dynamodb(operation: str, params: dict, names: Names) -> list[Need]:
    single = {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "DescribeTable"}
    if operation in single:
        # the item's partition key value, for statements limited by `dynamodb:LeadingKeys`
        key = params.get("Key") or params.get("Item") or {}
        # (the tables' partition keys are `pk`, or `tenant_id` beside a sort key: template.yaml)
        leading = next((next(iter(v.values())) for k, v in key.items()
                        if k in ("pk", "tenant_id") and isinstance(v, dict)), None)
        context = (("dynamodb:LeadingKeys", str(leading)),) if leading is not None else ()
        return [Need(f"dynamodb:{operation}", names.table(params["TableName"]), context)]
    if operation in ("Query", "Scan"):  # on an index, IAM checks the index's ARN
        return [Need(f"dynamodb:{operation}", names.index(params["TableName"], params.get("IndexName")))]
    if operation in ("BatchGetItem", "BatchWriteItem"):  # checked once per table of the batch
        return [Need(f"dynamodb:{operation}", names.table(t)) for t in params["RequestItems"]]
    if operation == "TransactWriteItems":  # no action of its own: each item is checked as its own write
        needs = []
        for item in params["TransactItems"]:
            (kind, body), = item.items()
            needs.append(Need(f"dynamodb:{TRANSACT_WRITE[kind]}", names.table(body["TableName"])))
        return needs
    if operation == "TransactGetItems":
        return [Need("dynamodb:GetItem", names.table(i["Get"]["TableName"])) for i in params["TransactItems"]]
    raise UnmappedCallError(f"dynamodb:{operation}")


def _s3(operation: str, params: dict, names: Names) -> list[Need]:
    objects = {"GetObject": "s3:GetObject", "HeadObject": "s3:GetObject", "PutObject": "s3:PutObject",
               "CreateMultipartUpload": "s3:PutObject", "UploadPart": "s3:PutObject",
               "CompleteMultipartUpload": "s3:PutObject", "AbortMultipartUpload": "s3:AbortMultipartUpload",
               "DeleteObject": "s3:DeleteObject"}
    if operation in objects:
        action = objects[operation]
        if operation in ("GetObject", "HeadObject") and params.get("VersionId"):
            action = "s3:GetObjectVersion"
        if operation == "DeleteObject" and params.get("VersionId"):  # a version, not a delete marker
            action = "s3:DeleteObjectVersion"
        return [Need(action, names.object(params["Bucket"], params["Key"]))]
    if operation == "DeleteObjects":  # checked as DeleteObject on each key
        return [Need("s3:DeleteObject", names.object(params["Bucket"], o["Key"]))
                for o in params["Delete"]["Objects"]]
    if operation in ("ListObjectsV2", "ListObjects"):
        context = (("s3:prefix", params["Prefix"]),) if "Prefix" in params else ()
        return [Need("s3:ListBucket", names.bucket(params["Bucket"]), context)]
    if operation == "ListObjectVersions":
        context = (("s3:prefix", params["Prefix"]),) if "Prefix" in params else ()
        return [Need("s3:ListBucketVersions", names.bucket(params["Bucket"]), context)]
    raise UnmappedCallError(f"s3:{operation}")


def _sqs(operation: str, params: dict, names: Names) -> list[Need]:
    actions = {"SendMessage": "sqs:SendMessage", "SendMessageBatch": "sqs:SendMessage",
               "ReceiveMessage": "sqs:ReceiveMessage", "DeleteMessage": "sqs:DeleteMessage",
               "DeleteMessageBatch": "sqs:DeleteMessage", "ChangeMessageVisibility": "sqs:ChangeMessageVisibility",
               "ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
               "GetQueueAttributes": "sqs:GetQueueAttributes"}
    if operation not in actions:
        raise UnmappedCallError(f"sqs:{operation}")
    return [Need(actions[operation], names.queue(params["QueueUrl"]))]


def _secretsmanager(operation: str, params: dict, names: Names) -> list[Need]:
    if operation == "GetSecretValue":
        return [Need("secretsmanager:GetSecretValue", names.secret(params["SecretId"]))]
    raise UnmappedCallError(f"secretsmanager:{operation}")


def _cognito(operation: str, params: dict, names: Names) -> list[Need]:
    admin = {"AdminCreateUser", "AdminSetUserPassword", "AdminAddUserToGroup", "AdminGetUser",
             "AdminListGroupsForUser", "AdminInitiateAuth", "AdminDeleteUser"}
    if operation not in admin:
        raise UnmappedCallError(f"cognito-idp:{operation}")
    return [Need(f"cognito-idp:{operation}", names.user_pool(params["UserPoolId"]))]


def _emr_serverless(operation: str, params: dict, names: Names) -> list[Need]:
    """StartJobRun is checked on the application, with TagResource for the tags it sets and
    iam:PassRole of its execution role (to EMR Serverless); GetJobRun on the run's ARN."""
    application = names.application(params["applicationId"])
    if operation == "StartJobRun":
        needs = [Need("emr-serverless:StartJobRun", application)]
        if params.get("tags"):
            needs.append(Need("emr-serverless:TagResource", application + "/jobruns/*"))
        needs.append(Need("iam:PassRole", names.role(params["executionRoleArn"]),
                          (("iam:PassedToService", "emr-serverless.amazonaws.com"),)))
        return needs
    if operation in ("GetJobRun", "CancelJobRun"):
        return [Need(f"emr-serverless:{operation}", f"{application}/jobruns/{params['jobRunId']}")]
    raise UnmappedCallError(f"emr-serverless:{operation}")


NEEDS = {"dynamodb": _dynamodb, "s3": _s3, "sqs": _sqs, "secretsmanager": _secretsmanager, "cognito-idp": _cognito,
         "emr-serverless": _emr_serverless}


def needs(service: str, operation: str, params: dict, names: Names) -> list[Need]:
    """The IAM actions and resources one API call is checked against. A service or operation not
    modelled here raises UnmappedCallError: a new kind of call is a decision, never skipped."""
    if service not in NEEDS:
        raise UnmappedCallError(f"{service}:{operation}")
    return NEEDS[service](operation, params, names)


def names_from_environment(env: Mapping[str, str], template: dict | None = None) -> Names:
    """Names from the physical values of the template's environment variables (Globals and every
    function's): each variable set by `!Ref X` names resource X."""
    template = template or load_template()
    variables = dict(template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}))
    for fn in resources("AWS::Serverless::Function", template).values():
        variables.update((fn["Properties"].get("Environment") or {}).get("Variables") or {})
    found: dict[str, dict[str, str]] = {"AWS::DynamoDB::Table": {}, "AWS::S3::Bucket": {}, "AWS::SQS::Queue": {},
                                        "AWS::SecretsManager::Secret": {}, "AWS::Cognito::UserPool": {},
                                        "AWS::EMRServerless::Application": {}, "AWS::IAM::Role": {}}
    for var, value in variables.items():
        if not isinstance(value, dict) or var not in env:
            continue
        target = value.get("Ref")
        if isinstance(value.get("Fn::GetAtt"), str) and value["Fn::GetAtt"].endswith(".Arn"):  # a role's ARN
            target = value["Fn::GetAtt"].split(".")[0]
        kind = template["Resources"].get(target, {}).get("Type") if target else None
        if kind in found:
            found[kind][env[var]] = target
    return Names(found["AWS::DynamoDB::Table"], found["AWS::S3::Bucket"], found["AWS::SQS::Queue"],
                 found["AWS::SecretsManager::Secret"], found["AWS::Cognito::UserPool"],
                 found["AWS::EMRServerless::Application"], found["AWS::IAM::Role"])
