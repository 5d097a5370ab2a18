"""The caller's tenant from the API key id API Gateway verified, cached per execution
environment for a short time (a revoked key stops working within `ttl_s`)."""

from __future__ import annotations

import threading
import time

from ..errors import UnauthorizedError
from .keys import ApiKeyStore
from .model import Tenant
from .store import TenantStore


class TenantResolver:
    def __init__(self, keys: ApiKeyStore, tenants: TenantStore, ttl_s: float = 60.0, clock=time.monotonic):
        self.keys = keys
        self.tenants = tenants
        self.ttl_s = ttl_s
        self.clock = clock
        self._cache: dict[str, tuple[float, Tenant | None]] = {}
        self._lock = threading.Lock()

    def _lookup(self, api_key_id: str) -> Tenant | None:
        tenant_id = self.keys.tenant_id_for_key(api_key_id)
        return self.tenants.get_tenant(tenant_id) if tenant_id else None

    def resolve(self, api_key_id: str | None) -> Tenant:
        if not api_key_id:
            raise UnauthorizedError("API key is missing")
        now = self.clock()
        with self._lock:
            hit = self._cache.get(api_key_id)
        if hit is None or now - hit[0] > self.ttl_s:
            hit = (now, self._lookup(api_key_id))
            with self._lock:
                self._cache[api_key_id] = hit
        if hit[1] is None:
            raise UnauthorizedError("API key is not known")
        return hit[1]
