"""Items similar to an item: cosine neighbours in the live (or a pinned) model, minus inactive items."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..analytics.counters import Tally
from ..billing.metering import metered_beside
from ..billing.store import UsageStore
from ..catalogue.store import ItemStore
from ..concurrency import gather
from ..errors import NotFoundError
from ..models.serving import ModelCache, PopularityCache
from ..tenancy.model import Tenant
from .candidates import active_top
from .query import warn
from .reads import catalogue_changes, catalogue_view
from .serve import Result, no_model_warning, resolve_model


def similar(models: ModelCache, items: ItemStore, tenant_id: str, item_id: str, limit: int,
            model_id: str | None = None, popularity: PopularityCache | None = None,
            alongside: Callable[[], Any] | None = None) -> Result:
    """Neighbours of the item in the model; while the tenant's model cannot be loaded, the tenant's
    popular items (with `popularity`) and the warning `model_unavailable`; without any model, none.
    One round trip: the catalogue changes since the model's snapshot, read beside `alongside` (the meter)."""
    model, pin_warnings = resolve_model(models, tenant_id, model_id)
    snapshot, read_changes = catalogue_changes(models, items, tenant_id, model.model_id if model else None)
    (changes, error), _ = gather(read_changes, alongside or (lambda: None))
    catalogue = catalogue_view(items, tenant_id, snapshot, changes, error)
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
    # taken back for an unknown item
    with metered_beside(deps.usage, tenant, request_id, Tally("recommendations")) as meter:
        return similar(deps.models, deps.items, tenant.tenant_id, item_id, limit, model_id, deps.popularity,
                       alongside=meter)
