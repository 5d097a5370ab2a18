"""A process-wide cache of each tenant's live model: loaded once per execution environment,
re-checked against the registry every `refresh_s`, a broken new version never replaces a good one."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from aws_lambda_powertools import Logger

from ..engine.errors import ArtefactError
from ..engine.model import ARTEFACT_FILES, RecommenderModel
from ..errors import NotFoundError
from ..stores.artefacts import ArtefactStore
from ..stores.dynamo import ModelRegistry

logger = Logger(child=True)


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

    def _lock_for(self, tenant_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(tenant_id, threading.Lock())

    def get(self, tenant_id: str) -> RecommenderModel | None:
        """The tenant's live model, or None when it has never been trained."""
        entry = self._entries.get(tenant_id)
        if entry is not None and self.clock() - entry.checked_at < self.refresh_s:
            return entry.model
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
                logger.warning("model version failed to load; keeping the previous one",
                               extra={"tenant_id": tenant_id, "model_id": live_id, "error": str(exc)})
                if entry is None:
                    entry = _Entry(None, None, now)
                entry.checked_at = now
                self._entries[tenant_id] = entry
                return entry.model
            self._entries[tenant_id] = _Entry(live_id, model, now)
            return model

    def _load(self, tenant_id: str, model_id: str) -> RecommenderModel:
        started = time.perf_counter()
        directory = self.cache_dir / tenant_id / model_id
        self.artefacts.download(tenant_id, model_id, ARTEFACT_FILES, directory)
        model = RecommenderModel.load(directory)
        logger.info("model loaded", extra={"tenant_id": tenant_id, "model_id": model_id, "items": model.n_items,
                                           "load_ms": round((time.perf_counter() - started) * 1000, 1)})
        return model
