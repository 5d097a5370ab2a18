"""The API key -> tenant cache: fresh within `ttl_s`; past it, a busy container looks the key up
beside the request that notices (which answers with the tenant looked up last), and past twice
`ttl_s` the request looks it up itself, so a revoked key stops working."""

from __future__ import annotations

import threading
import time

import pytest

from recengine.errors import UnauthorizedError
from recengine.tenancy.service import TenantResolver


class Keys:
    def __init__(self) -> None:
        self.owner = {"key-1": "tenant-a"}
        self.threads: list[int] = []

    def tenant_id_for_key(self, key_id: str) -> str | None:
        self.threads.append(threading.get_ident())
        return self.owner.get(key_id)


class Tenants:
    def get_tenant(self, tenant_id: str) -> str:
        return f"tenant:{tenant_id}"


def settle(resolver: TenantResolver) -> None:
    deadline = time.monotonic() + 5
    while resolver._revalidating and time.monotonic() < deadline:
        time.sleep(0.001)
    assert not resolver._revalidating


def test_a_due_lookup_runs_beside_the_request_and_a_revoked_key_stops_on_the_next():
    keys, now = Keys(), [1000.0]
    resolver = TenantResolver(keys, Tenants(), ttl_s=60.0, clock=lambda: now[0])
    assert resolver.resolve("key-1") == "tenant:tenant-a"
    assert keys.threads == [threading.get_ident()]  # the first lookup is the request's own

    now[0] += 30
    assert resolver.resolve("key-1") == "tenant:tenant-a"
    assert len(keys.threads) == 1  # fresh: no lookup

    del keys.owner["key-1"]  # revoked
    now[0] += 40  # 70 s: due
    assert resolver.resolve("key-1") == "tenant:tenant-a"  # answered from the cache...
    settle(resolver)
    assert len(keys.threads) == 2 and keys.threads[1] != threading.get_ident()  # ...while the lookup ran beside
    with pytest.raises(UnauthorizedError):
        resolver.resolve("key-1")  # the very next request sees the revocation


def test_past_twice_the_ttl_the_request_looks_up_itself():
    keys, now = Keys(), [1000.0]
    resolver = TenantResolver(keys, Tenants(), ttl_s=60.0, clock=lambda: now[0])
    resolver.resolve("key-1")
    del keys.owner["key-1"]
    now[0] += 121
    with pytest.raises(UnauthorizedError):
        resolver.resolve("key-1")
    assert keys.threads == [threading.get_ident()] * 2


def test_a_zero_ttl_looks_up_on_every_request():
    keys = Keys()
    resolver = TenantResolver(keys, Tenants(), ttl_s=0.0)
    for _ in range(3):
        resolver.resolve("key-1")
    assert keys.threads == [threading.get_ident()] * 3


def test_a_failed_lookup_beside_a_request_keeps_the_cached_tenant_until_twice_the_ttl():
    keys, now = Keys(), [1000.0]
    resolver = TenantResolver(keys, Tenants(), ttl_s=60.0, clock=lambda: now[0])
    resolver.resolve("key-1")

    def broken(key_id: str) -> str:
        raise RuntimeError("DynamoDB unreachable")

    keys.tenant_id_for_key = broken
    now[0] += 61
    assert resolver.resolve("key-1") == "tenant:tenant-a"
    settle(resolver)
    assert resolver.resolve("key-1") == "tenant:tenant-a"  # the next request tries again beside, cache stands
    settle(resolver)
    now[0] += 60
    with pytest.raises(RuntimeError):
        resolver.resolve("key-1")  # past twice the TTL the request's own lookup fails it


class KeysByValue(Keys):
    """Keys whose values are known by digest (as the `keyvalue#` rows bind them)."""

    def __init__(self) -> None:
        super().__init__()
        self.values = {"rk_admin_secret": "key-1"}
        self.value_lookups = 0

    def key_id_for_value(self, value: str) -> str | None:
        self.value_lookups += 1
        return self.values.get(value)


def test_a_key_value_resolves_through_its_key_id_and_a_revoked_key_stops():
    keys, now = KeysByValue(), [0.0]
    resolver = TenantResolver(keys, Tenants(), ttl_s=60.0, clock=lambda: now[0])
    assert resolver.resolve_value("rk_admin_secret") == "tenant:tenant-a"
    assert resolver.resolve_value("rk_admin_secret") == "tenant:tenant-a"
    assert keys.value_lookups == 1  # the digest -> key id step never changes: looked up once
    del keys.owner["key-1"]  # revoked: the binding no longer resolves
    now[0] = 121.0
    with pytest.raises(UnauthorizedError):
        resolver.resolve_value("rk_admin_secret")


@pytest.mark.parametrize("value", ["", None, "rk_admin_never-issued"])
def test_a_missing_or_unknown_key_value_is_unauthorized(value):
    resolver = TenantResolver(KeysByValue(), Tenants(), ttl_s=60.0)
    with pytest.raises(UnauthorizedError):
        resolver.resolve_value(value)
