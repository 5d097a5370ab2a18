"""A tenant's decisioning objects as the recommend path sees them: read in one Query and kept per
execution environment for `ttl_s`, so routing a request to its flow costs no round trip. A change
reaches a warm container of another function within `ttl_s` plus one request (the re-read then runs
beside that request, as the tenant resolver's does), at most twice `ttl_s`; a change made by this
process is seen at once."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from ..concurrency import start
from ..errors import NotFoundError
from ..observability import logger
from .flows import match_route
from .model import ContactPolicy, Experiment, Flow, QualificationRule, Route
from .store import DecisioningStore


@dataclass(frozen=True)
class TenantConfig:
    rules: dict[str, QualificationRule] = field(default_factory=dict)
    policies: dict[str, ContactPolicy] = field(default_factory=dict)
    flows: dict[str, Flow] = field(default_factory=dict)
    routes: tuple[Route, ...] = ()
    experiments: tuple[Experiment, ...] = ()  # oldest first

    @property
    def empty(self) -> bool:
        return not (self.flows or self.experiments)

    def flow(self, key: str) -> Flow:
        """The enabled flow a request names; NotFoundError otherwise (404)."""
        found = self.flows.get(key)
        if found is None or not found.enabled:
            raise NotFoundError(f"decision flow {key!r} not found")
        return found

    def routed(self, channel: str | None, placement: str | None) -> Flow | None:
        """The flow the most specific routing rule names (None: no rule, or its flow is gone or disabled)."""
        route = match_route(self.routes, channel, placement)
        found = self.flows.get(route.flow_key) if route is not None else None
        return found if found is not None and found.enabled else None

    def experiment(self, channel: str | None, placement: str | None) -> Experiment | None:
        """The enabled experiment covering a request: the most specific scope (as routing), then the oldest."""
        best, best_rank = None, -1
        for experiment in self.experiments:
            if not experiment.enabled or match_route([Route("", experiment.channel, experiment.placement)],
                                                     channel, placement) is None:
                continue
            rank = 2 * (experiment.placement is not None) + (experiment.channel is not None)
            if rank > best_rank:
                best, best_rank = experiment, rank
        return best

    def rules_of(self, flow: Flow) -> list[QualificationRule]:
        return [self.rules[i] for i in flow.rule_ids if i in self.rules]

    def policies_of(self, flow: Flow) -> list[ContactPolicy]:
        return [self.policies[i] for i in flow.policy_ids if i in self.policies]


def load(store: DecisioningStore, tenant_id: str) -> TenantConfig:
    found = store.everything(tenant_id)
    experiments = sorted(found["experiment"], key=lambda s: (s.created_at, s.value.experiment_id))
    return TenantConfig({s.value.rule_id: s.value for s in found["rule"]},
                        {s.value.policy_id: s.value for s in found["policy"]},
                        {s.value.key: s.value for s in found["flow"]},
                        tuple(r for s in found["routing"] for r in s.value),
                        tuple(s.value for s in experiments))


class ConfigCache:
    """Per-tenant TenantConfig with stale-while-revalidate (see the module's docstring)."""

    def __init__(self, store: DecisioningStore, ttl_s: float = 30.0, clock: Callable[[], float] = time.monotonic):
        self.store, self.ttl_s, self.clock = store, ttl_s, clock
        self._cache: dict[str, tuple[float, int, TenantConfig]] = {}
        self._lock = threading.Lock()
        self._revalidating: set[str] = set()

    def get(self, tenant_id: str) -> TenantConfig:
        now, writes = self.clock(), self.store.writes(tenant_id)
        with self._lock:
            hit = self._cache.get(tenant_id)
            fresh = hit is not None and hit[1] == writes
            beside = fresh and self.ttl_s < now - hit[0] <= 2 * self.ttl_s and tenant_id not in self._revalidating
            if beside:
                self._revalidating.add(tenant_id)
        if beside:
            start(self._revalidate, tenant_id, now, writes)
        elif not fresh or now - hit[0] > 2 * self.ttl_s:
            hit = (now, writes, load(self.store, tenant_id))
            with self._lock:
                self._cache[tenant_id] = hit
        return hit[2]

    def _revalidate(self, tenant_id: str, now: float, writes: int) -> None:
        try:
            found = load(self.store, tenant_id)
            with self._lock:
                self._cache[tenant_id] = (now, writes, found)
        except Exception:  # noqa: BLE001 - nobody waits on this thread; the cached config stands until 2 × TTL
            logger.exception("decisioning config re-read beside a request failed")
        finally:
            with self._lock:
                self._revalidating.discard(tenant_id)
