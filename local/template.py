"""Reads template.yaml (the single source of truth) for the local stack and the tests: tables,
the bucket, API routes and usage plans."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """Keeps CloudFormation short-form tags as {"Fn": value} dicts instead of failing on them."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag)


@lru_cache(maxsize=1)
def load_template(path: Path = TEMPLATE) -> dict:
    return yaml.load(path.read_text(), Loader=_CfnLoader)


def resources(of_type: str, template: dict | None = None) -> dict[str, dict]:
    template = template or load_template()
    return {name: r for name, r in template["Resources"].items() if r["Type"] == of_type}


def table_env_names(template: dict | None = None) -> dict[str, str]:
    """Env var -> table logical id, from the Globals (e.g. ITEMS_TABLE -> ItemsTable)."""
    template = template or load_template()
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    return {k: v["Ref"] for k, v in env.items() if isinstance(v, dict) and "Ref" in v}


def create_table_kwargs(logical_id: str, physical_name: str, template: dict | None = None) -> dict:
    """Arguments for dynamodb.create_table from a table resource in the template."""
    props = resources("AWS::DynamoDB::Table", template)[logical_id]["Properties"]
    kwargs: dict[str, Any] = {
        "TableName": physical_name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if props.get("GlobalSecondaryIndexes"):
        kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    return kwargs


@dataclass(frozen=True)
class Route:
    function: str  # logical id
    code_uri: str
    handler: str
    method: str
    path: str  # e.g. /v1/items/{item_id}
    api_key_required: bool
    authorizer: "Authorizer | None" = None

    @property
    def pattern(self) -> re.Pattern:
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path))
        return re.compile(f"^{regex}$")


@dataclass(frozen=True)
class Authorizer:
    """A Lambda REQUEST authorizer; with ApiKeySourceType AUTHORIZER its `usageIdentifierKey` is the API key."""

    function: str
    code_uri: str
    handler: str
    supplies_api_key: bool


def _default_authorizer(template: dict) -> Authorizer | None:
    api = next(iter(resources("AWS::Serverless::Api", template).values()))["Properties"]
    auth = api.get("Auth", {})
    name = auth.get("DefaultAuthorizer")
    if not name:
        return None
    arn = auth["Authorizers"][name]["FunctionArn"]
    logical_id = arn["Fn::GetAtt"].split(".")[0] if isinstance(arn["Fn::GetAtt"], str) else arn["Fn::GetAtt"][0]
    props = template["Resources"][logical_id]["Properties"]
    return Authorizer(logical_id, props["CodeUri"], props["Handler"], api.get("ApiKeySourceType") == "AUTHORIZER")


def routes(template: dict | None = None) -> list[Route]:
    template = template or load_template()
    api = next(iter(resources("AWS::Serverless::Api", template).values()))
    default_key = api["Properties"].get("Auth", {}).get("ApiKeyRequired", False)
    default_authorizer = _default_authorizer(template)
    found = []
    for name, fn in resources("AWS::Serverless::Function", template).items():
        props = fn["Properties"]
        for event in (props.get("Events") or {}).values():
            if event["Type"] != "Api":
                continue
            ep = event["Properties"]
            auth = ep.get("Auth", {})
            required = auth.get("ApiKeyRequired", default_key)
            authorizer = None if auth.get("Authorizer") == "NONE" else default_authorizer
            found.append(Route(name, props["CodeUri"], props["Handler"], ep["Method"].upper(), ep["Path"], required,
                               authorizer))
    return found


@dataclass(frozen=True)
class QueueConsumer:
    """A function fed by an SQS queue (an `SQS` event source): what the local worker process runs."""

    function: str
    code_uri: str
    handler: str
    queue: str  # the queue's logical id
    batch_size: int


def queue_consumers(template: dict | None = None) -> list[QueueConsumer]:
    template = template or load_template()
    found = []
    for name, fn in resources("AWS::Serverless::Function", template).items():
        props = fn["Properties"]
        for event in (props.get("Events") or {}).values():
            if event["Type"] == "SQS":
                queue = event["Properties"]["Queue"]["Fn::GetAtt"]
                queue = queue.split(".")[0] if isinstance(queue, str) else queue[0]
                found.append(QueueConsumer(name, props["CodeUri"], props["Handler"], queue,
                                           int(event["Properties"].get("BatchSize", 10))))
    return found


def queue_env_names(template: dict | None = None) -> dict[str, str]:
    """Env var -> queue logical id, from the functions' environments (e.g. BATCH_QUEUE_URL -> BatchQueue)."""
    template = template or load_template()
    queues = resources("AWS::SQS::Queue", template)
    found = {}
    for fn in resources("AWS::Serverless::Function", template).values():
        for var, value in (fn["Properties"].get("Environment", {}).get("Variables", {}) or {}).items():
            if isinstance(value, dict) and value.get("Ref") in queues:
                found[var] = value["Ref"]
    return found


def secret_env_names(template: dict | None = None) -> dict[str, str]:
    """Env var -> secret logical id, from the functions' environments (PSEUDONYM_SECRET_ID -> PseudonymSecret)."""
    template = template or load_template()
    secrets = resources("AWS::SecretsManager::Secret", template)
    found = {}
    for fn in resources("AWS::Serverless::Function", template).values():
        for var, value in (fn["Properties"].get("Environment", {}).get("Variables", {}) or {}).items():
            if isinstance(value, dict) and value.get("Ref") in secrets:
                found[var] = value["Ref"]
    return found


NO_VALUE = object()  # `!Ref AWS::NoValue`: the property (an environment variable) is left out


def condition_holds(name: str, given: dict[str, str] | None = None, template: dict | None = None) -> bool:
    """Whether the template's condition `name` holds under the parameter values `given` (else each
    parameter's default): Fn::Not, Fn::Equals, Fn::And, Fn::Or, Condition and Ref to parameters."""
    template = template or load_template()
    given = given or {}

    def ev(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        (key, arg), = value.items()
        if key == "Ref":
            return given.get(arg, template["Parameters"][arg].get("Default"))
        if key == "Condition":
            return ev(template["Conditions"][arg])
        if key == "Fn::Not":
            return not ev(arg[0])
        if key == "Fn::Equals":
            return str(ev(arg[0])) == str(ev(arg[1]))
        if key in ("Fn::And", "Fn::Or"):
            return (all if key == "Fn::And" else any)(ev(a) for a in arg)
        raise ValueError(f"unsupported {key} in a condition")

    return bool(ev(template["Conditions"][name]))


def choose_if(value: Any, given: dict[str, str] | None = None, template: dict | None = None) -> Any:
    """An `Fn::If`'s branch under the parameter values `given` (else the defaults), NO_VALUE for
    `AWS::NoValue`; any other value as it is."""
    while isinstance(value, dict) and "Fn::If" in value:
        name, yes, no = value["Fn::If"]
        value = yes if condition_holds(name, given, template) else no
    return NO_VALUE if value == {"Ref": "AWS::NoValue"} else value


@dataclass(frozen=True)
class UsagePlan:
    logical_id: str
    name: str  # e.g. "starter"
    quota_limit: int
    quota_period: str
    rate_limit: float
    burst_limit: int


def find_in_map(value: Any, template: dict | None = None) -> Any:
    """Resolves `!FindInMap [Map, Key, Field]` against the template's Mappings; other values pass through."""
    if isinstance(value, dict) and "Fn::FindInMap" in value:
        mapping, key, field = value["Fn::FindInMap"]
        return (template or load_template())["Mappings"][mapping][key][field]
    return value


def usage_plans(template: dict | None = None) -> dict[str, UsagePlan]:
    plans = {}
    for logical_id, res in resources("AWS::ApiGateway::UsagePlan", template).items():
        props = res["Properties"]
        name = logical_id.removesuffix("UsagePlan").lower()
        quota, throttle = props["Quota"], props["Throttle"]
        plans[name] = UsagePlan(logical_id, name, int(find_in_map(quota["Limit"], template)), quota["Period"],
                                float(find_in_map(throttle["RateLimit"], template)),
                                int(find_in_map(throttle["BurstLimit"], template)))
    return plans


def stage_name(template: dict | None = None) -> str:
    template = template or load_template()
    return template["Parameters"]["StageName"]["Default"]
