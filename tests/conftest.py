"""Shared fixtures: fake credentials, moto with tables built from template.yaml, tenants with
API keys, a Lambda context, and events/*.json loaded and sent through the handlers."""

from __future__ import annotations

import copy
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from moto import mock_aws

from local.gateway import LambdaContext, load_handler
from local.template import routes

# Powertools' Logger reads these when recengine.observability is first imported, which is before any
# fixture runs: set here so that test logs carry the test service name and level.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "recengine-test")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
TEST_PSEUDONYM_KEY = "test-pseudonym-key-0123456789abcdef"


def settings_env(**overrides: str) -> dict[str, str]:
    """A complete environment for recengine.settings (tables named, the pseudonym key's secret), plus overrides."""
    env = {name: f"test-{name.lower()}" for name in ("ITEMS_TABLE", "INTERACTIONS_TABLE", "SESSIONS_TABLE",
                                                     "EXPOSURES_TABLE", "MODELS_TABLE", "TENANTS_TABLE",
                                                     "USAGE_TABLE", "MODEL_BUCKET", "MODEL_CACHE_DIR")}
    return {**env, "PSEUDONYM_SECRET_ID": "test-pseudonym-secret", **overrides}


def _share_botocore_data_loader() -> None:
    """One botocore data loader for the whole test process. Each moto test starts fresh boto3 sessions
    (moto resets boto3's default one, reset_clients() drops recengine's), and each new session's loader
    parses the SDK's service models, endpoints and rule sets from JSON again: ~1-4 s per test, most of
    the suite's setup time. That data is read-only and the same for every session with the same data
    path (the cache's key), so sharing it changes no call a test makes or checks: clients, sessions,
    credentials and moto's state are still new for every test. Lambda builds its session once per cold
    start, which this does not model or alter."""
    import functools

    import botocore.loaders
    import botocore.session

    if not hasattr(botocore.session.create_loader, "cache_info"):
        botocore.session.create_loader = functools.lru_cache(maxsize=None)(botocore.loaders.create_loader)


_share_botocore_data_loader()

ISOLATED = ("unit", "integration", "faults")  # moto in-process: nothing in them needs a socket


SHARED_STACK = ("e2e", "fuzz")  # start the local stack, which writes the one .local-stack/state.json


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Unit, integration and faults tests cannot open a network socket (pytest-socket): a test that tried
    to reach AWS, or anything else, fails instead of silently depending on the network.

    For `pytest -n N --dist loadgroup` (make test): each file is one group, run whole on one worker
    (its module fixtures are built once), except that the tests that start a local stack form a
    single group: two stacks at once would both write the repository's .local-stack/state.json, which
    each stack's gateway watches."""
    for item in items:
        parts = Path(str(item.path)).relative_to(ROOT).parts
        # `allow_hosts(["127.0.0.1"])`: a test that talks to a stand-in served in the test process
        # (the Stripe stand-in) may open loopback connections, and nothing else.
        if len(parts) > 1 and parts[0] == "tests" and parts[1] in ISOLATED \
                and item.get_closest_marker("enable_socket") is None and item.get_closest_marker("allow_hosts") is None:
            item.add_marker(pytest.mark.disable_socket)
        if item.get_closest_marker("xdist_group") is None:
            shared = len(parts) > 1 and parts[0] == "tests" and parts[1] in SHARED_STACK
            item.add_marker(pytest.mark.xdist_group("local-stack" if shared else "/".join(parts)))


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch, tmp_path):
    """No test can reach real AWS: fake credentials, a region, and no endpoint override."""
    for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "PSEUDONYM_SECRET_ID"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "recengine-test")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "recengine-test")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")  # EMF lines would mix with CLI output
    monkeypatch.setenv("MODEL_CACHE_DIR", str(tmp_path / "model-cache"))


@pytest.fixture
def aws(monkeypatch):
    """moto for every AWS call; the template's tables, bucket, queues and pseudonym key secret (holding
    TEST_PSEUDONYM_KEY); fresh clients and caches."""
    from recengine.aws.clients import reset_clients
    from recengine.runtime import reset_runtime

    from local.moto_atomic import atomic_item_writes, item_scoped_rollback, partition_scoped_queries
    from local.provision import create_api, create_resources

    # each write atomic, as in DynamoDB: ingestion issues its transactions concurrently (ADR 0002),
    # and a transaction's cost flat in the table's size (moto deep-copies the table otherwise)
    with mock_aws(), item_scoped_rollback(), atomic_item_writes(), partition_scoped_queries():
        reset_clients()
        reset_runtime()
        env = create_resources("test", {"PseudonymSecret": TEST_PSEUDONYM_KEY})
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        _, plan_ids = create_api("test")
        yield Aws(env, plan_ids)
        reset_clients()
        reset_runtime()


@dataclass
class Aws:
    env: dict
    plan_ids: dict

    def tenant(self, name: str = "acme", plan: str = "growth"):
        from local.provision import create_tenant

        tenant, value, key_id = create_tenant(self.env["TENANTS_TABLE"], name, plan, self.plan_ids)
        return Caller(tenant.tenant_id, key_id, key_value=value)


@dataclass
class Caller:
    """Who calls: the tenant, the key id API Gateway verified, and the role the authorizer read from
    the key's value (`requestContext.authorizer.role`; None: a key that carries no role)."""

    tenant_id: str
    api_key_id: str
    role: str | None = "admin"
    # The key's value: sent as `x-api-key` on the routes where API Gateway checks no key and the
    # function validates the value itself (those that also take a portal token).
    key_value: str | None = None

    def as_role(self, role: str | None) -> "Caller":
        return Caller(self.tenant_id, self.api_key_id, role, self.key_value)


def authorizer_context(caller: Caller | None) -> dict | None:
    """`requestContext.authorizer` as API Gateway hands it on from the key authorizer; None without a key."""
    if caller is None:
        return None
    return {**({"role": caller.role} if caller.role is not None else {}), "principalId": "api-key",
            "integrationLatency": 0}


@pytest.fixture
def lambda_context():
    return LambdaContext("test-function")


def load_script(name: str):
    """Imports scripts/<name>.py (the scripts folder is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_event(name: str) -> dict:
    return json.loads((EVENTS / f"{name}.json").read_text())


_ROUTES = {(r.method, r.path): r for r in routes()}


def api_event(method: str, path: str, *, caller: Caller | None = None, body=None, raw_body: str | None = None,
              headers: dict | None = None, query: dict | None = None, path_params: dict | None = None) -> dict:
    """An event from events/ for the route, re-aimed at the given caller, body and parameters."""
    name = {("GET", "/health"): "health", ("POST", "/v1/items"): "items_upsert", ("GET", "/v1/items"): "items_list",
            ("GET", "/v1/items/{item_id}"): "items_get", ("DELETE", "/v1/items/{item_id}"): "items_delete",
            ("POST", "/v1/interactions"): "interactions_post", ("POST", "/v1/recommend"): "recommend",
            ("POST", "/v1/similar"): "similar", ("GET", "/v1/billing/plans"): "billing_plans"}[(method, path)]
    event = copy.deepcopy(load_event(name))
    event["requestContext"]["requestId"] = f"test-{uuid.uuid4()}"  # unique per request, as API Gateway's
    identity = event["requestContext"]["identity"]
    identity["apiKeyId"] = caller.api_key_id if caller else None
    authorizer = authorizer_context(caller) if identity["apiKeyId"] else None
    if authorizer is None:
        event["requestContext"].pop("authorizer", None)
    else:
        event["requestContext"]["authorizer"] = authorizer
    if path_params is not None:
        event["pathParameters"] = path_params
        concrete = path
        for k, v in path_params.items():
            concrete = concrete.replace("{" + k + "}", v)
        event["path"] = concrete
    if body is not None or raw_body is not None:
        event["body"] = raw_body if raw_body is not None else json.dumps(body)
    if headers is not None:
        event["headers"] = {**(event["headers"] or {}), **headers}
        event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    if query is not None:
        event["queryStringParameters"] = query or None
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} or None
    return event


def invoke(method: str, path: str, event: dict) -> tuple[int, dict, dict | str]:
    """Sends an event through the route's real handler; returns (status, headers, parsed body)."""
    handler = load_handler(_ROUTES[(method, path)])
    result = handler(event, LambdaContext("test"))
    body = result.get("body") or ""
    try:
        parsed = json.loads(body) if body else {}
    except ValueError:
        parsed = body
    headers = dict(result.get("headers") or {})
    for key, values in (result.get("multiValueHeaders") or {}).items():
        headers[key] = ", ".join(values)
    return result["statusCode"], headers, parsed


@pytest.fixture
def call():
    """call(method, path, caller=..., body=...) -> (status, headers, body) through the handler."""

    def _call(method: str, path: str, **kwargs):
        return invoke(method, path, api_event(method, path, **kwargs))

    return _call


def local_state_file(aws, tmp_path: Path) -> Path:
    """A local-stack state file naming the moto tables, bucket and plans (as `make run` writes it)."""
    path = tmp_path / ".local-stack" / "state.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"pid": 0, "endpoint_url": None, "region": None, "usage_plan_ids": aws.plan_ids,
                                "env": aws.env}))
    return path


@pytest.fixture
def configure(monkeypatch):
    """configure(VAR="value", OTHER=None): sets (None: removes) function environment variables and
    rebuilds the runtime from them, as a new execution environment reads its settings."""
    from recengine.runtime import reset_runtime

    def _configure(**env: str | None) -> None:
        for name, value in env.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        reset_runtime()

    return _configure
