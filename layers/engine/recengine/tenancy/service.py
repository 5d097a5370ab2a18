"""The caller's tenant from the API key id API Gateway verified (or, on a route where API Gateway
checks no key, from the key's value, validated here), cached per execution environment for a short
time: a revoked key stops working within `ttl_s` and one request on a busy container (the lookup due
then runs beside that request), within twice `ttl_s` at most."""

from __future__ import annotations

import threading
import time

from ..concurrency import start
from ..errors import UnauthorizedError
from ..observability import logger
from .credentials import key_digest
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
        self._revalidating: set[str] = set()
        self._key_ids: dict[str, str] = {}  # value digest -> key id: a binding never changes its value

    def _lookup(self, api_key_id: str) -> Tenant | None:
        tenant_id = self.keys.tenant_id_for_key(api_key_id)
        return self.tenants.get_tenant(tenant_id) if tenant_id else None

    def resolve(self, api_key_id: str | None) -> Tenant:
        if not api_key_id:
            raise UnauthorizedError("API key is missing")
        now = self.clock()
        with self._lock:
            hit = self._cache.get(api_key_id)
            beside = hit is not None and self.ttl_s < now - hit[0] <= 2 * self.ttl_s \
                and api_key_id not in self._revalidating
            if beside:
                self._revalidating.add(api_key_id)
        if beside:
            start(self._revalidate, api_key_id, now)  # this request answers with the tenant looked up last
        elif hit is None or now - hit[0] > 2 * self.ttl_s:
            hit = (now, self._lookup(api_key_id))
            with self._lock:
                self._cache[api_key_id] = hit
        if hit[1] is None:
            raise UnauthorizedError("API key is not known")
        return hit[1]

    def resolve_value(self, value: str | None) -> Tenant:
        """The tenant of a key value API Gateway did not check (a route that requires no key): the
        value's digest names the key id, which then resolves as a verified one does (revoked or
        unknown: UnauthorizedError). The digest -> key id step is cached without expiry."""
        if not value:
            raise UnauthorizedError("API key is missing")
        digest = key_digest(value)
        with self._lock:
            key_id = self._key_ids.get(digest)
        if key_id is None:
            key_id = self.keys.key_id_for_value(value)
            if key_id is None:
                raise UnauthorizedError("API key is not known")
            with self._lock:
                self._key_ids[digest] = key_id
        return self.resolve(key_id)

    def _revalidate(self, api_key_id: str, now: float) -> None:
        """The lookup beside a request; on failure the cached tenant stands until twice `ttl_s`, when
        a request looks it up itself (and answers 503 if it still cannot)."""
        try:
            found = self._lookup(api_key_id)
            with self._lock:
                self._cache[api_key_id] = (now, found)
        except Exception:  # noqa: BLE001 - nobody waits on this thread
            logger.exception("API key re-check beside a request failed")
        finally:
            with self._lock:
                self._revalidating.discard(api_key_id)
