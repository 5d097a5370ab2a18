"""Training: every tenant with interactions newer than its last model gets a new live model."""

from __future__ import annotations

import secrets
import string
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
from aws_lambda_powertools import Logger

from ..engine.model import TrainingData, TrainParams, train_model
from ..stores.artefacts import ArtefactStore
from ..stores.dynamo import InteractionStore, ItemStore, ModelRegistry, TenantStore

logger = Logger(child=True)
_ALPHABET = string.ascii_letters + string.digits


def new_model_id(algorithm: str, version: int) -> str:
    """`model_<algorithm>-v<N>_<random>`, the id format clients already know."""
    return f"model_{algorithm}-v{version}_{''.join(secrets.choice(_ALPHABET) for _ in range(20))}"


def read_training_data(store: InteractionStore, tenant_id: str, progress: Callable[[dict], None] | None = None
                       ) -> tuple[TrainingData, str]:
    users, items, weights, stamps, last_sk = [], [], [], [], ""
    for n, row in enumerate(store.tenant_events(tenant_id), start=1):
        users.append(row["user_id"])
        items.append(row["item_id"])
        weights.append(float(row["weight"]))
        stamps.append(float(row.get("ts", 0.0)))
        last_sk = row["sk"]
        if progress and n % 50_000 == 0:
            progress({"stage": "read", "events": n})
    data = TrainingData(users, items, np.asarray(weights, dtype=np.float64), np.asarray(stamps, dtype=np.float64))
    return data, last_sk


def train_tenant(tenants: TenantStore, interactions: InteractionStore, registry: ModelRegistry,
                 artefacts: ArtefactStore, tenant_id: str, *, items: ItemStore | None = None, force: bool = False,
                 params: TrainParams | None = None, tune_budget_s: float = 90.0) -> dict | None:
    """Trains and publishes one tenant's model; None when there is nothing new to learn from."""
    latest = interactions.latest_sort_key(tenant_id)
    if not latest or (latest <= tenants.trained_marker(tenant_id) and not force):
        return None
    log_extra = {"tenant_id": tenant_id}

    def progress(info: dict) -> None:
        logger.info("training progress", extra={**log_extra, **info})

    started = time.time()
    data, last_sk = read_training_data(interactions, tenant_id, progress)
    # Active catalogue items feed content vectors; those without interactions become cold items.
    catalogue = {row["item_id"]: row.get("metadata", {}) for row in (items.iter_items(tenant_id) if items else ())
                 if row.get("active", True)}
    version = len(registry.versions(tenant_id)) + 1
    model_id = new_model_id("hybrid", version)
    record = {"model_id": model_id, "algorithm": "hybrid", "version": version, "status": "training",
              "created_at": started, "interactions": len(data)}
    registry.put_version(tenant_id, record)
    try:
        model = train_model(data, model_id, params, progress, tune_budget_s=tune_budget_s, catalogue=catalogue)
        with tempfile.TemporaryDirectory() as tmp:
            files = model.save(Path(tmp))
            location = artefacts.upload(tenant_id, model_id, files)
    except Exception:
        registry.put_version(tenant_id, {**record, "status": "failed", "finished_at": time.time()})
        logger.exception("training failed", extra={**log_extra, "model_id": model_id})
        raise
    record = {**record, "status": "live", "artefact": location, "finished_at": time.time(), "meta": model.meta}
    registry.put_version(tenant_id, record)
    registry.set_live(tenant_id, model_id, time.time())
    tenants.set_trained_marker(tenant_id, last_sk)
    logger.info("model published", extra={**log_extra, "model_id": model_id, "items": model.n_items,
                                          "interactions": len(data), "elapsed_s": round(time.time() - started, 2)})
    return record


def train_all(tenants: TenantStore, interactions: InteractionStore, registry: ModelRegistry,
              artefacts: ArtefactStore, items: ItemStore | None = None) -> dict:
    """Trains each tenant with new data; one tenant's failure does not stop the others."""
    trained, skipped, failed = [], [], []
    for tenant in tenants.list_tenants():
        try:
            record = train_tenant(tenants, interactions, registry, artefacts, tenant.tenant_id, items=items)
        except Exception:  # noqa: BLE001 - logged with traceback in train_tenant; keep going
            failed.append(tenant.tenant_id)
            continue
        (trained if record else skipped).append(tenant.tenant_id)
    return {"trained": trained, "skipped": skipped, "failed": failed}
