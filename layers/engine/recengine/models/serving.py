"""A process-wide cache of each tenant's live model: loaded once per execution environment,
re-checked against the registry every `refresh_s`, a broken new version never replaces a good one."""

from __future__ import annotations

import shutil
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from ..engine.artefact import ARTEFACT_FILES, OPTIONAL_ARTEFACT_FILES, load_model
from ..engine.errors import ArtefactError
from ..engine.recommender import RecommenderModel
from ..errors import NotFoundError
from ..events.store import InteractionStore
from ..observability import count, logger, timed
from .artefacts import ArtefactStore
from .errors import ModelNotFoundError
from .registry import ModelRegistry


@dataclass
class _Entry:
    model_id: str | None
    model: RecommenderModel | None
    checked_at: float


class ModelCache:
    def __init__(self, registry: ModelRegistry, artefacts: ArtefactStore, cache_dir: str, refresh_s: float = 60.0,
                 clock=time.monotonic):
        self.registry = registry
        self.artefacts = artefacts
        self.cache_dir = Path(cache_dir)
        self.refresh_s = refresh_s
        self.clock = clock
        self._entries: dict[str, _Entry] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._pinned: OrderedDict[tuple[str, str], RecommenderModel] = OrderedDict()
        self._pinned_lock = threading.Lock()

    def _lock_for(self, tenant_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(tenant_id, threading.Lock())

    def get(self, tenant_id: str) -> RecommenderModel | None:
        """The tenant's live model, or None when it has never been trained."""
        entry = self._entries.get(tenant_id)
        if entry is not None and self.clock() - entry.checked_at < self.refresh_s:
            count("ModelCacheHit")
            return entry.model
        count("ModelCacheMiss")
        with self._lock_for(tenant_id):
            entry = self._entries.get(tenant_id)
            now = self.clock()
            if entry is not None and now - entry.checked_at < self.refresh_s:
                return entry.model
            live_id = self.registry.live_model_id(tenant_id)
            if entry is not None and entry.model_id == live_id:
                entry.checked_at = now
                return entry.model
            if live_id is None:
                self._entries[tenant_id] = _Entry(None, None, now)
                return None
            try:
                model = self._load(tenant_id, live_id)
            except (ArtefactError, NotFoundError) as exc:
                count("ModelLoadFailed")
                logger.warning("model version failed to load; keeping the previous one",
                               extra={"tenant_id": tenant_id, "model_id": live_id, "error": str(exc)})
                if entry is None:
                    entry = _Entry(None, None, now)
                entry.checked_at = now
                self._entries[tenant_id] = entry
                return entry.model
            self._entries[tenant_id] = _Entry(live_id, model, now)
            return model

    PINNED_MAX = 3  # pinned (non-live) versions kept loaded per process, least recently used out

    def get_version(self, tenant_id: str, model_id: str) -> RecommenderModel:
        """A specific version of the tenant's model (a request that pins `model_id`).

        ModelNotFoundError when the tenant has no such servable version; ArtefactError or
        NotFoundError when its artefact cannot be loaded."""
        live = self._entries.get(tenant_id)
        if live is not None and live.model_id == model_id and live.model is not None:
            return live.model
        key = (tenant_id, model_id)
        with self._pinned_lock:
            if key in self._pinned:
                self._pinned.move_to_end(key)
                return self._pinned[key]
        row = self.registry.get_version(tenant_id, model_id) if model_id.startswith("model_") else None
        if row is None or row.get("status") not in ("candidate", "live", "retired") or row.get("artefact_deleted"):
            raise ModelNotFoundError(f"model {model_id!r} not found or not servable")
        with self._lock_for(tenant_id):
            with self._pinned_lock:
                if key in self._pinned:
                    return self._pinned[key]
            model = self._load(tenant_id, model_id)
            with self._pinned_lock:
                self._pinned[key] = model
                while len(self._pinned) > self.PINNED_MAX:
                    self._pinned.popitem(last=False)
            return model

    def _load(self, tenant_id: str, model_id: str) -> RecommenderModel:
        started = time.perf_counter()
        directory = self.cache_dir / tenant_id / model_id
        with timed("ModelLoad"):
            self.artefacts.download(tenant_id, model_id, ARTEFACT_FILES, directory, OPTIONAL_ARTEFACT_FILES)
            try:
                model = load_model(directory)
            except ArtefactError:
                # A corrupt copy must not stay cached on disk: the next check downloads it afresh.
                shutil.rmtree(directory, ignore_errors=True)
                raise
        logger.info("model loaded", extra={"tenant_id": tenant_id, "model_id": model_id, "items": model.n_items,
                                           "load_ms": round((time.perf_counter() - started) * 1000, 1)})
        return model


class PopularityCache:
    """Popular items of a tenant that has no trained model yet: the latest `window` events (one
    bounded GSI query), weighted and time-decayed, recomputed at most every `refresh_s`."""

    HALF_LIFE_S = 30 * 86400.0

    def __init__(self, interactions: InteractionStore, refresh_s: float = 60.0, window: int = 2000,
                 clock=time.monotonic):
        self.interactions = interactions
        self.refresh_s = refresh_s
        self.window = window
        self.clock = clock
        self._entries: dict[str, tuple[float, list[tuple[str, float]]]] = {}

    def top(self, tenant_id: str) -> list[tuple[str, float]]:
        """(item id, score), best first."""
        cached = self._entries.get(tenant_id)
        if cached is not None and self.clock() - cached[0] < self.refresh_s:
            return cached[1]
        rows = self.interactions.recent_tenant_events(tenant_id, self.window)
        newest = max((float(r.get("ts", 0.0)) for r in rows), default=0.0)
        scores: dict[str, float] = {}
        for row in rows:
            decay = 0.5 ** ((newest - float(row.get("ts", newest))) / self.HALF_LIFE_S)
            scores[row["item_id"]] = scores.get(row["item_id"], 0.0) + float(row.get("weight", 1.0)) * decay
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
        self._entries[tenant_id] = (self.clock(), ranked)
        return ranked
