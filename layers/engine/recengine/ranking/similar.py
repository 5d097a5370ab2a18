"""Items similar to an item: cosine neighbours in the live (or a pinned) model, minus inactive items."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..billing.metering import meter_call, take_back
from ..billing.store import MeterMark, UsageStore
from ..catalogue.snapshot import CatalogueSnapshot
from ..catalogue.store import ItemStore
from ..catalogue.view import CatalogueView
from ..concurrency import gather
from ..errors import NotFoundError, StoreError
from ..observability import logger
from ..models.serving import ModelCache, PopularityCache
from ..tenancy.model import Tenant
from .candidates import active_top
from .query import warn
from .serve import Result, no_model_warning, resolve_model


def similar(models: ModelCache, items: ItemStore, tenant_id: str, item_id: str, limit: int,
            model_id: str | None = None, popularity: PopularityCache | None = None,
            alongside: Callable[[], Any] | None = None) -> Result:
    """Neighbours of the item in the model; while the tenant's model cannot be loaded, the tenant's
    popular items (with `popularity`) and the warning `model_unavailable`; without any model, none.
    One round trip: the catalogue changes since the model's snapshot, read beside `alongside` (the meter)."""
    model, pin_warnings = resolve_model(models, tenant_id, model_id)
    snapshot = models.catalogue(tenant_id, model.model_id) if model is not None else None
    (changes, error), _ = gather(_changes(items, tenant_id, snapshot), alongside or (lambda: None))
    if error is not None:
        logger.warning("catalogue changes not read; similar reads the items table",
                       extra={"tenant_id": tenant_id, "error": str(error)})
    catalogue = CatalogueView(items, snapshot, changes)
    in_model = model is not None and item_id in model.item_index
    if not in_model and catalogue.get(tenant_id, item_id) is None:
        raise NotFoundError(f"item {item_id!r} not found")
    if model is None:
        if popularity is not None and any(w["code"] == "model_unavailable" for w in pin_warnings):
            ranked = popularity.top(tenant_id)
            kept, _ = active_top(catalogue, tenant_id, limit, {item_id},
                                 lambda n, ex: [(i, s) for i, s in ranked if i not in ex][:n])
            return Result([{"id": i, "score": round(s, 6)} for i, s in kept], pin_warnings, None, "popular")
        return Result([], pin_warnings + no_model_warning(pin_warnings))
    warnings: list[dict] = list(pin_warnings)
    rank = (lambda n, ex: model.similar(item_id, n, exclude=ex)) if in_model else \
        (lambda n, ex: model.popular(n, exclude=ex))
    kept, _ = active_top(catalogue, tenant_id, limit, {item_id}, rank)
    if not in_model:
        warnings.append(warn("item_not_in_model", "the item has no interactions in the current model: "
                             "popular items returned"))
    return Result([{"id": i, "score": round(s, 6)} for i, s in kept], warnings, model.model_id,
                  "similar" if in_model else "popular")


def _changes(items: ItemStore, tenant_id: str, snapshot: CatalogueSnapshot | None):
    def read() -> tuple[list[dict] | None, StoreError | None]:
        if snapshot is None:
            return None, None
        try:
            return items.changes_since(tenant_id, snapshot.taken_at), None
        except StoreError as exc:
            return None, exc
    return read


@dataclass(frozen=True)
class SimilarDeps:
    models: ModelCache
    items: ItemStore
    usage: UsageStore
    popularity: PopularityCache | None = None  # the fallback while the model cannot be loaded


def similar_items(deps: SimilarDeps, tenant: Tenant, item_id: str, limit: int, model_id: str | None,
                  request_id: str | None) -> Result:
    """The similar route: one metered call, counted once per `request_id` (API Gateway's), taken back
    if it fails (e.g. an unknown item)."""
    marks: list[MeterMark] = []
    try:
        return similar(deps.models, deps.items, tenant.tenant_id, item_id, limit, model_id, deps.popularity,
                       alongside=lambda: marks.append(meter_call(deps.usage, tenant, request_id)))
    except Exception:
        if marks:  # counted, then failed (e.g. an unknown item): not billed
            take_back(deps.usage, tenant, marks[0])
        raise
