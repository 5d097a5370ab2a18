"""A process-wide cache of the models requests use: each tenant's live version, re-checked against
the registry every `refresh_s`, and pinned versions, in ONE least-recently-used set held within a
memory budget and a local-disk (/tmp) budget. A version that cannot be loaded (download failed,
disk full, over budget, unreadable) never replaces a good one and never fails the request."""

from __future__ import annotations

import shutil
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from ..concurrency import start
from ..catalogue.snapshot import SNAPSHOT_FILE, CatalogueSnapshot, read_snapshot
from ..engine.artefact import ARTEFACT_FILES, OPTIONAL_ARTEFACT_FILES, load_model, resident_bytes
from ..engine.errors import ArtefactError
from ..engine.recommender import RecommenderModel
from ..errors import NotFoundError, StoreError
from ..events.store import InteractionStore
from ..observability import count, logger, timed
from .artefacts import ArtefactStore
from .errors import DiskFullError, ModelNotFoundError, ModelUnavailableError
from .registry import ModelRegistry

MB = 1024 * 1024
UNKNOWN_LIVE = "live"  # Served.unavailable when the registry could not say which version is live


@dataclass(frozen=True)
class Served:
    """The tenant's model for this request (None: no model, popularity answers) and, when the live
    version could not be loaded in this process, its id: `model` is then the previous version, if
    this process still holds it."""

    model: RecommenderModel | None
    unavailable: str | None = None


@dataclass
class _Loaded:
    model: RecommenderModel
    directory: Path
    disk: int  # bytes of its files
    memory: int  # bytes of its arrays (mmap'd ones included), annoy forests and item ids
    catalogue: CatalogueSnapshot | None = None  # None for artefacts from before snapshots


@dataclass
class _Live:
    live_id: str | None  # the registry's live version when last checked
    serving_id: str | None  # the version answering: the live one, or the previous one after a failed load
    checked_at: float
    unavailable: str | None = None  # the live version, while it cannot be loaded


class ModelCache:
    """Every loaded version, live or pinned, is an entry of one LRU. Before a download the cache
    evicts the least recently used entries until the artefact fits the disk budget (it is refused
    when larger than the whole budget); once loaded, until it fits the memory budget. Evicting drops
    the cache's reference and deletes the version's directory: a request in flight keeps the model
    object it holds, whose mmap'd files stay readable after their unlinking (Linux frees the pages
    with the last mapping). A superseded live version is evicted when its successor goes live."""

    def __init__(self, registry: ModelRegistry, artefacts: ArtefactStore, cache_dir: str, refresh_s: float = 60.0,
                 clock=time.monotonic, memory_budget: int = 512 * MB, disk_budget: int = 384 * MB):
        self.registry = registry
        self.artefacts = artefacts
        self.cache_dir = Path(cache_dir)
        self.refresh_s = refresh_s
        self.clock = clock
        self.memory_budget = memory_budget
        self.disk_budget = disk_budget
        self._live: dict[str, _Live] = {}
        self._loaded: OrderedDict[tuple[str, str], _Loaded] = OrderedDict()
        self._memory = self._disk = self._reserved = 0
        self._lock = threading.Lock()  # the LRU and its accounting; never held during a download or a load
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._revalidating: set[str] = set()  # tenants whose live version is being re-checked beside a request
        self._remove_leftovers()

    @property
    def memory_used(self) -> int:
        return self._memory

    @property
    def disk_used(self) -> int:
        """Bytes of the loaded versions' directories plus room reserved for downloads in progress."""
        return self._disk + self._reserved

    def loaded(self) -> list[tuple[str, str]]:
        """(tenant id, model id) of every version held, least recently used first."""
        with self._lock:
            return list(self._loaded)

    def _remove_leftovers(self) -> None:
        """Versions left on disk by an earlier process of this execution environment (a timeout or a
        crash restarts the process but keeps /tmp): nothing accounts for them, so they go."""
        for directory in self.cache_dir.glob("*/model_*"):
            shutil.rmtree(directory, ignore_errors=True)

    def _lock_for(self, tenant_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(tenant_id, threading.Lock())

    # ------------------------------------------------------------------ what requests ask for
    def get(self, tenant_id: str) -> RecommenderModel | None:
        """The tenant's live model (or the previous one while it cannot be loaded); None without one."""
        return self.live(tenant_id).model

    def live(self, tenant_id: str) -> Served:
        """The tenant's live model, loaded once per execution environment and re-checked every
        `refresh_s`; while the live version cannot be loaded, the previous one (or none) and its id.

        A check due less than `refresh_s` ago runs beside the request (stale-while-revalidate), which
        answers with the version checked last: a busy container never adds the registry read (nor a
        new version's download) to a request's critical path. Past twice `refresh_s` (an idle
        container) the request checks first, as does the first request of a tenant."""
        served = self._fresh(tenant_id)
        if served is not None:
            count("ModelCacheHit")
            return served
        stale = self._fresh(tenant_id, max_age=2 * self.refresh_s)
        if stale is not None:
            self._revalidate_beside(tenant_id)
            count("ModelCacheHit")
            return stale
        count("ModelCacheMiss")
        return self._check_live(tenant_id)

    def _revalidate_beside(self, tenant_id: str) -> None:
        """One background check per tenant at a time; its failures are the next request's to see."""
        with self._guard:
            if tenant_id in self._revalidating:
                return
            self._revalidating.add(tenant_id)

        def revalidate() -> None:
            try:
                self._check_live(tenant_id)
            except Exception:  # noqa: BLE001 - nobody waits on this thread: log, and the next request checks
                logger.exception("live model re-check beside a request failed", extra={"tenant_id": tenant_id})
            finally:
                with self._guard:
                    self._revalidating.discard(tenant_id)

        start(revalidate)

    def _check_live(self, tenant_id: str) -> Served:
        """Asks the registry which version is live and loads it (under the tenant's lock)."""
        with self._lock_for(tenant_id):
            served = self._fresh(tenant_id)
            if served is not None:
                return served
            now, state = self.clock(), self._live.get(tenant_id)
            if state is None or now - state.checked_at >= self.refresh_s:
                try:
                    live_id, checked_at = self.registry.live_model_id(tenant_id), now
                except StoreError as exc:
                    return self._registry_unreadable(tenant_id, state, exc)
            else:  # checked recently, but evicted since: reload it without asking the registry again
                live_id, checked_at = state.live_id, state.checked_at
            previous = state.serving_id if state is not None else None
            if live_id is None:
                if previous is not None:
                    self._evict((tenant_id, previous), "superseded")
                self._live[tenant_id] = _Live(None, None, checked_at)
                return Served(None)
            model = self._touch((tenant_id, live_id))
            if model is None:
                try:
                    model = self._admit(tenant_id, live_id)
                except ModelUnavailableError:
                    kept = self._touch((tenant_id, previous)) if previous not in (None, live_id) else None
                    self._live[tenant_id] = _Live(live_id, previous if kept is not None else None, checked_at, live_id)
                    return Served(kept, live_id)
            if previous not in (None, live_id):
                self._evict((tenant_id, previous), "superseded")
            self._live[tenant_id] = _Live(live_id, live_id, checked_at)
            return Served(model)

    def _registry_unreadable(self, tenant_id: str, state: _Live | None, exc: StoreError) -> Served:
        """The registry could not be read: the version this process serves keeps serving (the next
        request asks again); without one, no model, and popularity answers."""
        count("ModelUnavailable", reason="registry_unavailable")
        logger.warning("live model not checked: the registry could not be read",
                       extra={"tenant_id": tenant_id, "error": str(exc)})
        model = self._touch((tenant_id, state.serving_id)) if state is not None and state.serving_id else None
        if model is not None:
            return Served(model, state.unavailable)
        return Served(None, UNKNOWN_LIVE)

    def _fresh(self, tenant_id: str, max_age: float | None = None) -> Served | None:
        """What the last check decided, while it is recent (`refresh_s`, or `max_age`) and its model still loaded."""
        state = self._live.get(tenant_id)
        if state is None or self.clock() - state.checked_at >= (self.refresh_s if max_age is None else max_age):
            return None
        model = self._touch((tenant_id, state.serving_id)) if state.serving_id is not None else None
        if model is None and state.serving_id is not None:
            return None
        return Served(model, state.unavailable)

    def get_version(self, tenant_id: str, model_id: str) -> RecommenderModel:
        """A specific version of the tenant's model (a request that pins `model_id`), in the same LRU
        and budgets as the live ones. ModelNotFoundError when the tenant has no such servable version;
        ModelUnavailableError when it cannot be loaded."""
        model = self._touch((tenant_id, model_id))
        if model is not None:
            return model
        row = self.registry.get_version(tenant_id, model_id) if model_id.startswith("model_") else None
        if row is None or row.get("status") not in ("candidate", "live", "retired") or row.get("artefact_deleted"):
            raise ModelNotFoundError(f"model {model_id!r} not found or not servable")
        with self._lock_for(tenant_id):
            model = self._touch((tenant_id, model_id))
            return model if model is not None else self._admit(tenant_id, model_id)

    # ------------------------------------------------------------------ loading within the budgets
    def _admit(self, tenant_id: str, model_id: str) -> RecommenderModel:
        """Downloads and loads a version into the LRU, making room first; ModelUnavailableError (and a
        metric and a warning in the log) when it cannot, with nothing of it left on disk."""
        try:
            return self._load(tenant_id, model_id)
        except ModelUnavailableError as exc:
            count("ModelUnavailable", reason=exc.reason)
            logger.warning("model version unavailable; the previous one (or popularity) answers",
                           extra={"tenant_id": tenant_id, "model_id": model_id, "reason": exc.reason,
                                  "error": str(exc)})
            raise

    def _load(self, tenant_id: str, model_id: str) -> RecommenderModel:
        started = time.perf_counter()
        key, directory = (tenant_id, model_id), self.cache_dir / tenant_id / model_id
        names = (*ARTEFACT_FILES, SNAPSHOT_FILE)
        reserved = 0

        def reserve(size: int) -> None:
            nonlocal reserved
            self._reserve(size, model_id)
            reserved = size

        try:
            with timed("ModelLoad"):
                try:  # one GET of the pack; a version without one is listed and fetched file by file
                    if not self.artefacts.download_pack(tenant_id, model_id, directory, names, reserve):
                        files = self.artefacts.present(tenant_id, model_id, names,
                                                       (*OPTIONAL_ARTEFACT_FILES, SNAPSHOT_FILE))
                        reserve(sum(files.values()))
                        self.artefacts.download(tenant_id, model_id, list(files), directory)
                except ModelUnavailableError:
                    raise  # the budget refused it
                except DiskFullError as exc:
                    raise ModelUnavailableError(str(exc), "disk_full") from exc
                except NotFoundError as exc:
                    raise ModelUnavailableError(str(exc), "missing") from exc
                except StoreError as exc:
                    raise ModelUnavailableError(str(exc), "download_failed") from exc
                except ArtefactError as exc:
                    raise ModelUnavailableError(f"cannot load model {model_id}: {exc}", "corrupt") from exc
                try:
                    model = load_model(directory)
                    snapshot = _snapshot(directory, tenant_id, model_id)
                    entry = _Loaded(model, directory, _directory_bytes(directory),
                                    resident_bytes(model, directory) + (snapshot.nbytes if snapshot else 0), snapshot)
                except (ArtefactError, OSError, MemoryError) as exc:
                    # A corrupt copy must not stay on disk: the next attempt downloads it afresh.
                    shutil.rmtree(directory, ignore_errors=True)
                    reason = "corrupt" if isinstance(exc, ArtefactError) else "unreadable"
                    raise ModelUnavailableError(f"cannot load model {model_id}: {exc}", reason) from exc
            size, reserved = reserved, 0
            self._store(key, entry, size)
        finally:
            if reserved:
                with self._lock:
                    self._reserved -= reserved
        logger.info("model loaded", extra={"tenant_id": tenant_id, "model_id": model_id, "items": model.n_items,
                                           "disk_bytes": entry.disk, "memory_bytes": entry.memory,
                                           "load_ms": round((time.perf_counter() - started) * 1000, 1)})
        return model

    def _reserve(self, size: int, model_id: str) -> None:
        """Room on disk for a download, made before it starts, so that the budget holds throughout."""
        if size > self.disk_budget:
            raise ModelUnavailableError(f"model {model_id} ({size} bytes) exceeds the disk budget", "over_budget")
        with self._lock:
            self._make_room(size + self._reserved, 0)
            if self._disk + self._reserved + size > self.disk_budget:  # downloads in flight hold the rest
                raise ModelUnavailableError(f"no room on disk for model {model_id} now", "over_budget")
            self._reserved += size

    def _store(self, key: tuple[str, str], entry: _Loaded, reserved: int) -> None:
        with self._lock:
            self._reserved -= reserved
            if entry.memory > self.memory_budget or entry.disk > self.disk_budget:
                shutil.rmtree(entry.directory, ignore_errors=True)
                raise ModelUnavailableError(f"model {key[1]} ({entry.memory} bytes in memory, {entry.disk} on disk) "
                                            "exceeds the cache's budgets", "over_budget")
            self._make_room(entry.disk + self._reserved, entry.memory)
            if self._disk + self._reserved + entry.disk > self.disk_budget:
                shutil.rmtree(entry.directory, ignore_errors=True)
                raise ModelUnavailableError(f"no room on disk for model {key[1]} now", "over_budget")
            self._loaded[key] = entry
            self._disk += entry.disk
            self._memory += entry.memory

    def _make_room(self, disk: int, memory: int) -> None:
        """Evicts least recently used entries until `disk` and `memory` more bytes fit (under _lock)."""
        while self._loaded and (self._disk + disk > self.disk_budget or self._memory + memory > self.memory_budget):
            key = next(iter(self._loaded))
            self._drop(key, "budget")

    def catalogue(self, tenant_id: str, model_id: str) -> CatalogueSnapshot | None:
        """The catalogue snapshot that came with a loaded version (None: not loaded, or none shipped)."""
        with self._lock:
            entry = self._loaded.get((tenant_id, model_id))
            return entry.catalogue if entry is not None else None

    def _touch(self, key: tuple[str, str]) -> RecommenderModel | None:
        with self._lock:
            entry = self._loaded.get(key)
            if entry is None:
                return None
            self._loaded.move_to_end(key)
            return entry.model

    def _evict(self, key: tuple[str, str], why: str) -> None:
        with self._lock:
            if key in self._loaded:
                self._drop(key, why)

    def _drop(self, key: tuple[str, str], why: str) -> None:
        """Forgets an entry and deletes its files (under _lock, so that no load sees it half gone)."""
        entry = self._loaded.pop(key)
        self._disk -= entry.disk
        self._memory -= entry.memory
        shutil.rmtree(entry.directory, ignore_errors=True)
        count("ModelEvicted", reason=why)
        logger.info("model evicted", extra={"tenant_id": key[0], "model_id": key[1], "reason": why})


def _snapshot(directory: Path, tenant_id: str, model_id: str) -> CatalogueSnapshot | None:
    """The version's catalogue snapshot; a missing or unreadable one costs speed, never the model
    (ranking then reads the items table, as before snapshots)."""
    path = directory / SNAPSHOT_FILE
    if not path.exists():
        return None
    try:
        return read_snapshot(path)
    except (ValueError, OSError) as exc:
        count("CatalogueSnapshotUnreadable")
        logger.warning("catalogue snapshot unreadable; ranking reads the items table",
                       extra={"tenant_id": tenant_id, "model_id": model_id, "error": str(exc)})
        return None


def _directory_bytes(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.iterdir() if path.is_file())


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
