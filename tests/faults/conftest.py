"""The faults suite's stack: moto (tables and bucket from template.yaml) and one small trained shop,
built once for each module; before every test a fresh runtime (a cold model cache, tenant cache and
popularity), as a new execution environment; faults injected with botocore hooks on the clients
the runtime uses (tests/faults/injector.py). No test here can open a socket (tests/conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from moto import mock_aws

from tests.conftest import TEST_PSEUDONYM_KEY, Caller, api_event, invoke
from tests.faults.injector import Injector
from tests.faults.routes import FAULT_ITEM

@dataclass
class Shop:
    caller: Caller
    users: list[str]
    items: list[str]
    env: dict

    def send(self, method: str, path: str, **kwargs):
        """(status, headers, body) through the route's real handler, as this shop's admin key."""
        return invoke(method, path, api_event(method, path, caller=self.caller, **kwargs))


BASE_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_LOG_LEVEL": "WARNING",
            "POWERTOOLS_SERVICE_NAME": "recengine-test", "POWERTOOLS_METRICS_NAMESPACE": "recengine-test",
            "POWERTOOLS_METRICS_DISABLED": "true"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """moto with the template's resources, once for the module (tests/conftest.py's `aws` is per test)."""
    from local.provision import create_api, create_resources
    from recengine.aws.clients import reset_clients
    from recengine.runtime import reset_runtime

    with pytest.MonkeyPatch.context() as mp:
        for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "TRAIN_LAUNCH", "BATCH_DISPATCH"):
            mp.delenv(var, raising=False)
        for var, value in {**BASE_ENV, "MODEL_CACHE_DIR": str(tmp_path_factory.mktemp("model-cache"))}.items():
            mp.setenv(var, value)
        from local.moto_atomic import atomic_item_writes, item_scoped_rollback, partition_scoped_queries

        # each write atomic, as in DynamoDB: ingestion issues its transactions concurrently (ADR 0002),
        # and a transaction's cost flat in the table's size (moto deep-copies the table otherwise)
        with mock_aws(), item_scoped_rollback(), atomic_item_writes(), partition_scoped_queries():
            reset_clients()
            reset_runtime()
            env = create_resources("test", {"PseudonymSecret": TEST_PSEUDONYM_KEY})
            for key, value in env.items():
                mp.setenv(key, value)
            _, plan_ids = create_api("test")
            yield env, plan_ids, mp
            reset_clients()
            reset_runtime()


@pytest.fixture(scope="module")
def shop(stack) -> Shop:
    """A small shop: catalogue and history through the handlers, and a live model trained with
    small fixed parameters (fast, deterministic)."""
    from local.demo import generate
    from local.provision import create_tenant
    from recengine.models.training import train_tenant
    from recengine.runtime import runtime
    from tests.integration.conftest import FAST

    env, plan_ids, _ = stack
    tenant, _value, key_id = create_tenant(env["TENANTS_TABLE"], "shop", "growth", plan_ids)
    caller = Caller(tenant.tenant_id, key_id)
    shop = Shop(caller, [], [], env)
    data = generate(n_users=30, n_items=40, events_per_user=8, seed=11)
    status, _, body = shop.send("POST", "/v1/items", body={"items": [*data.items, {"id": FAULT_ITEM, "title": "x"}]})
    assert status == 200, body
    status, _, body = shop.send("POST", "/v1/interactions", body={"interactions": data.interactions})
    assert status == 201, body
    record = train_tenant(runtime().training, caller.tenant_id, force=True, params=FAST)
    assert record is not None
    shop.users = sorted({e["user_id"] for e in data.interactions})
    shop.items = [i["id"] for i in data.items]
    return shop


@pytest.fixture(scope="module")
def faults(stack):
    """The injector, hooked on the runtime's DynamoDB and S3 clients for the module."""
    from recengine.aws.clients import client

    from local.template import table_env_names

    env = stack[0]
    names = {env[var]: logical.removesuffix("Table") for var, logical in table_env_names().items() if var in env}
    injector = Injector({"dynamodb": client("dynamodb"), "s3": client("s3")}, names)
    yield injector
    injector.close()


@pytest.fixture(autouse=True)
def fresh_runtime(request, monkeypatch):
    """Each test is a new execution environment (cold caches), and leaves no fault behind. The
    module's resources are named again (tests/conftest.py clears PSEUDONYM_SECRET_ID before each test)."""
    from recengine.runtime import reset_runtime

    if "stack" in request.fixturenames:
        for var, value in request.getfixturevalue("stack")[0].items():
            monkeypatch.setenv(var, value)
    reset_runtime()
    yield
    if "faults" in request.fixturenames:
        request.getfixturevalue("faults").clear()
    reset_runtime()


@pytest.fixture(scope="module")
def warm_models(shop, tmp_path_factory):
    """A model cache holding the shop's live model, as a warm execution environment's: for the
    faults that do not concern loading the model, which then need not be downloaded each time."""
    from recengine.models.serving import ModelCache
    from recengine.runtime import reset_runtime, runtime

    reset_runtime()
    rt = runtime()
    cache = ModelCache(rt.registry, rt.artefacts, str(tmp_path_factory.mktemp("warm-models")), refresh_s=3600)
    assert cache.get(shop.caller.tenant_id) is not None
    return cache


def use_warm_models(cache) -> None:
    """This test's runtime serves from the warm cache (cached_property: set before first use)."""
    from recengine.runtime import runtime

    runtime().__dict__["models"] = cache
