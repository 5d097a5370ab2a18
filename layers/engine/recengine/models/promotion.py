"""The registry's rules: listing versions, which one serves (the promotion guard, promote and
rollback), and retention of old artefacts."""

from __future__ import annotations

import time

from ..errors import ConflictError, NotFoundError
from ..observability import logger
from .artefacts import ArtefactStore
from .errors import ModelNotFoundError
from .registry import ModelRegistry

STATUSES = ("training", "candidate", "live", "retired", "failed")
GUARDED_METRICS = ("recall@20", "ndcg@10")  # a candidate may not be worse than live on either


def promotion_decision(candidate: dict, live: dict | None, tolerance: float) -> tuple[bool, str]:
    """(promote?, why). A candidate is promoted unless, on a guarded metric, it falls more than
    `tolerance` (relative) below the live model's stored value."""
    if live is None:
        return True, "no live model"
    live_metrics, cand_metrics = live.get("metrics") or {}, candidate.get("metrics") or {}
    if not all(m in live_metrics for m in GUARDED_METRICS):
        return True, "the live model has no holdout metrics"
    if not all(m in cand_metrics for m in GUARDED_METRICS):
        return False, "the candidate has no holdout metrics (too little data to evaluate it)"
    for metric in GUARDED_METRICS:
        floor = float(live_metrics[metric]) * (1.0 - tolerance)
        if float(cand_metrics[metric]) < floor - 1e-12:
            return False, (f"{metric} {float(cand_metrics[metric]):.4f} is more than {tolerance:.0%} below the live "
                           f"model's {float(live_metrics[metric]):.4f}")
    return True, "not worse than the live model within tolerance " + f"{tolerance:.0%}"


def live_record(registry: ModelRegistry, tenant_id: str) -> dict | None:
    live_id = registry.live_model_id(tenant_id)
    return registry.get_version(tenant_id, live_id) if live_id else None


def make_live(registry: ModelRegistry, tenant_id: str, model_id: str, now: float, reason: str) -> dict:
    """Points LIVE at model_id; the version it replaces becomes retired."""
    previous = registry.live_model_id(tenant_id)
    if previous == model_id:
        return registry.get_version(tenant_id, model_id) or {}
    fields = {"status": "live", "live_at": now, "promotion_reason": reason}
    if previous:
        fields["replaced_model_id"] = previous
    registry.update_version(tenant_id, model_id, fields)
    registry.set_live(tenant_id, model_id, now)
    if previous:
        try:
            registry.update_version(tenant_id, previous, {"status": "retired", "retired_at": now})
        except NotFoundError:
            pass  # a LIVE pointer to a version row that no longer exists: nothing to retire
    logger.info("model is live", extra={"tenant_id": tenant_id, "model_id": model_id, "replaced": previous,
                                        "reason": reason})
    return registry.get_version(tenant_id, model_id) or {}


def _servable(row: dict) -> bool:
    return row.get("status") in ("candidate", "live", "retired") and not row.get("artefact_deleted") \
        and bool(row.get("artefact"))


def get_model(registry: ModelRegistry, tenant_id: str, model_id: str) -> dict:
    row = registry.get_version(tenant_id, model_id) if model_id.startswith(ModelRegistry.VERSION_PREFIX) else None
    if row is None:
        raise ModelNotFoundError(f"model {model_id!r} not found")
    return row


def list_models(registry: ModelRegistry, tenant_id: str) -> tuple[str | None, list[dict]]:
    """(the live version's id, every version newest first)."""
    versions = sorted(registry.versions(tenant_id), key=lambda r: -r.get("version", 0))
    return registry.live_model_id(tenant_id), versions


def describe_model(registry: ModelRegistry, tenant_id: str, model_id: str) -> tuple[dict, str | None]:
    """(the version's row, the live version's id); ModelNotFoundError if the tenant has no such version."""
    return get_model(registry, tenant_id, model_id), registry.live_model_id(tenant_id)


def promote(registry: ModelRegistry, tenant_id: str, model_id: str, now: float | None = None) -> dict:
    """Operator promotion of a candidate or retired version (bypasses the guard, by intent)."""
    row = get_model(registry, tenant_id, model_id)
    if not _servable(row):
        raise ConflictError(f"model {model_id!r} is {row.get('status')}"
                            f"{' and its artefact was deleted' if row.get('artefact_deleted') else ''}; "
                            "it cannot be made live")
    live = make_live(registry, tenant_id, model_id, time.time() if now is None else now, "promoted by an operator")
    logger.info("model promoted by operator", extra={"tenant_id": tenant_id, "model_id": model_id})
    return live


def rollback(registry: ModelRegistry, tenant_id: str, model_id: str, now: float | None = None) -> dict:
    """Makes the version live before `model_id` (which must be live) live again; returns it."""
    row = get_model(registry, tenant_id, model_id)
    if registry.live_model_id(tenant_id) != model_id:
        raise ConflictError(f"model {model_id!r} is not live; only the live model can be rolled back")
    versions = {v["model_id"]: v for v in registry.versions(tenant_id)}
    target = versions.get(row.get("replaced_model_id", ""))
    if target is None or not _servable(target):
        older = [v for v in versions.values() if v.get("status") == "retired" and _servable(v)
                 and v.get("version", 0) < row.get("version", 0)]
        target = max(older, key=lambda v: v.get("version", 0), default=None)
    if target is None:
        raise ConflictError(f"model {model_id!r} has no earlier version to roll back to")
    now = time.time() if now is None else now
    live = make_live(registry, tenant_id, target["model_id"], now, f"rollback from {model_id}")
    registry.update_version(tenant_id, model_id, {"rolled_back_at": now})
    logger.info("model rolled back", extra={"tenant_id": tenant_id, "from": model_id, "to": target["model_id"]})
    return live


def apply_retention(registry: ModelRegistry, artefacts: ArtefactStore, tenant_id: str, keep: int,
                    now: float | None = None) -> list[str]:
    """Deletes the artefacts of all but the newest `keep` versions (never the live one, never one
    still training) and marks those rows `artefact_deleted`; returns their model ids."""
    live_id = registry.live_model_id(tenant_id)
    versions = registry.versions(tenant_id)
    old = versions[:-keep] if keep > 0 else versions
    deleted = []
    for row in old:
        if row["model_id"] == live_id or row.get("status") == "training" or row.get("artefact_deleted"):
            continue
        artefacts.delete(tenant_id, row["model_id"])
        registry.update_version(tenant_id, row["model_id"], {"artefact_deleted": True, "artefact": None,
                                                             "deleted_at": time.time() if now is None else now})
        deleted.append(row["model_id"])
    if deleted:
        logger.info("old model artefacts deleted", extra={"tenant_id": tenant_id, "model_ids": deleted, "keep": keep})
    return deleted
