"""The registry's rules: listing versions, which one serves (the promotion guard, promote and
rollback), and retention of old artefacts."""

from __future__ import annotations

import time

from ..errors import ConflictError
from ..observability import logger
from .artefacts import ArtefactStore
from .errors import ModelNotFoundError
from .registry import LiveChangedError, ModelRegistry

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


_LATEST = object()  # make_live's default: whatever is live when it swaps
MAX_SWAP_ATTEMPTS = 5


def make_live(registry: ModelRegistry, tenant_id: str, model_id: str, now: float, reason: str,
              expected_live: str | None | object = _LATEST) -> dict:
    """Points LIVE at model_id in one conditional transaction; the version it replaces becomes
    retired. With `expected_live`, only if that version (None: no version) is still live, else
    LiveChangedError, so a decision taken against one live version is never applied to another.
    Without it, another promotion winning meanwhile just means swapping against the new live one:
    the last promotion wins and there is never more than one live version."""
    registry.mark_promoting(tenant_id, model_id, now)  # retention leaves it alone from here on
    for _ in range(MAX_SWAP_ATTEMPTS):
        previous = registry.live_model_id(tenant_id, consistent=True)
        if expected_live is not _LATEST and previous != expected_live:
            raise LiveChangedError(f"the live model of {tenant_id!r} is {previous}, not {expected_live}")
        if previous == model_id:
            return registry.get_version(tenant_id, model_id, consistent=True) or {}
        fields = {"status": "live", "live_at": now, "promotion_reason": reason}
        if previous:
            fields["replaced_model_id"] = previous
        retire = previous is not None and registry.get_version(tenant_id, previous, consistent=True) is not None
        try:
            registry.swap_live(tenant_id, model_id, previous, now, fields, retire)
        except LiveChangedError:
            if expected_live is not _LATEST:
                raise
            continue
        logger.info("model is live", extra={"tenant_id": tenant_id, "model_id": model_id, "replaced": previous,
                                            "reason": reason})
        return registry.get_version(tenant_id, model_id, consistent=True) or {}
    raise ConflictError(f"the live model of {tenant_id!r} kept changing; retry")


def promote_if_not_worse(registry: ModelRegistry, tenant_id: str, record: dict, tolerance: float,
                         now: float) -> tuple[dict, str]:
    """The promotion guard applied atomically: the candidate goes live only if it is not worse than
    the version live at the moment of the swap. When another version went live between the decision
    and the swap (an overlapping training or an operator), the decision is taken again against it.
    Returns the candidate's row and the reason."""
    model_id = record["model_id"]
    for _ in range(MAX_SWAP_ATTEMPTS):
        live_id = registry.live_model_id(tenant_id, consistent=True)
        live = registry.get_version(tenant_id, live_id, consistent=True) if live_id else None
        promote_it, reason = promotion_decision(record, live, tolerance)
        if not promote_it:
            registry.update_version(tenant_id, model_id, {"promotion_reason": reason})
            logger.warning("model stays candidate", extra={"tenant_id": tenant_id, "model_id": model_id,
                                                           "reason": reason})
            return {**record, "promotion_reason": reason}, reason
        try:
            return make_live(registry, tenant_id, model_id, now, reason, expected_live=live_id), reason
        except LiveChangedError:
            continue
    raise ConflictError(f"the live model of {tenant_id!r} kept changing; {model_id} stays candidate")


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
    live = make_live(registry, tenant_id, target["model_id"], now, f"rollback from {model_id}",
                     expected_live=model_id)
    registry.update_version(tenant_id, model_id, {"rolled_back_at": now})
    logger.info("model rolled back", extra={"tenant_id": tenant_id, "from": model_id, "to": target["model_id"]})
    return live


def apply_retention(registry: ModelRegistry, artefacts: ArtefactStore, tenant_id: str, keep: int,
                    now: float | None = None) -> list[str]:
    """Deletes the artefacts of all but the newest `keep` versions and marks those rows
    `artefact_deleted`; returns their model ids. Never the live version, one being promoted, or one
    still training: each row is marked first, by a transaction conditional on the LIVE pointer not
    naming it (registry.mark_artefact_deleted), and only then are its S3 objects deleted."""
    now = time.time() if now is None else now
    versions = registry.versions(tenant_id)
    old = versions[:-keep] if keep > 0 else versions
    deleted = []
    for row in old:
        if row.get("status") == "training" or row.get("artefact_deleted"):
            continue
        if not registry.mark_artefact_deleted(tenant_id, row["model_id"], now):
            continue  # live, or being promoted, or changed meanwhile: it keeps its artefact
        artefacts.delete(tenant_id, row["model_id"])
        deleted.append(row["model_id"])
    if deleted:
        logger.info("old model artefacts deleted", extra={"tenant_id": tenant_id, "model_ids": deleted, "keep": keep})
    return deleted
