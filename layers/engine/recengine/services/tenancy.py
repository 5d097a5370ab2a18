"""API key id -> tenant, cached per execution environment for a short time."""

from __future__ import annotations

import threading
import time

from ..errors import UnauthorizedError
from ..stores.dynamo import Tenant, TenantStore


class TenantResolver:
    def __init__(self, store: TenantStore, ttl_s: float = 60.0, clock=time.monotonic):
        self.store = store
        self.ttl_s = ttl_s
        self.clock = clock
        self._cache: dict[str, tuple[float, Tenant | None]] = {}
        self._lock = threading.Lock()

    def resolve(self, api_key_id: str | None) -> Tenant:
        if not api_key_id:
            raise UnauthorizedError("API key is missing")
        now = self.clock()
        with self._lock:
            hit = self._cache.get(api_key_id)
        if hit is None or now - hit[0] > self.ttl_s:
            hit = (now, self.store.tenant_for_key(api_key_id))
            with self._lock:
                self._cache[api_key_id] = hit
        if hit[1] is None:
            raise UnauthorizedError("API key is not known")
        return hit[1]
