"""Personalised recommendations and similar items over the tenant's live (or a pinned) model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from ..engine.errors import ArtefactError
from ..engine.model import RecommenderModel
from ..errors import NotFoundError
from ..stores.dynamo import InteractionStore, ItemStore
from .registry import ModelNotFoundError
from .serving import ModelCache, PopularityCache

HISTORY_LIMIT = 200  # latest user events folded in per request
SESSION_LIMIT = 50


@dataclass
class Result:
    items: list[dict]
    warnings: list[dict] = field(default_factory=list)
    model_id: str | None = None
    source: str = "none"


def _warn(code: str, message: str) -> dict:
    return {"code": code, "message": message}


def load_history(store: InteractionStore, tenant_id: str, user_id: str | None, session_id: str | None
                 ) -> tuple[list[str], list[float]]:
    """Items and weights from the user's recent history plus the session, each event once."""
    rows: dict[str, dict] = {}
    user_rows = store.recent_for_user(tenant_id, user_id, HISTORY_LIMIT) if user_id else []
    session_rows = store.recent_for_session(tenant_id, session_id, SESSION_LIMIT) if session_id else []
    for row in [*user_rows, *session_rows]:
        rows.setdefault(row["event_id"], row)
    ordered = sorted(rows.values(), key=lambda r: r["sk"])
    return [r["item_id"] for r in ordered], [float(r["weight"]) for r in ordered]


def _active_top(items: ItemStore, tenant_id: str, limit: int, exclude: set[str],
                rank: Callable[[int, set[str]], list[tuple[str, float]]]) -> tuple[list[tuple[str, float]], dict]:
    """The best `limit` active items from `rank(n, exclude)`, over-fetching past deactivated ones
    (items never sent to the catalogue count as active); also their catalogue rows."""
    want = limit * 2 + 10
    while True:
        ranked = rank(want, exclude)
        rows = items.get_many(tenant_id, [i for i, _ in ranked])
        inactive = {i for i, row in rows.items() if not row.get("active", True)}
        kept = [(i, s) for i, s in ranked if i not in inactive]
        if len(kept) >= limit or len(ranked) < want or not inactive:
            return kept[:limit], rows
        exclude = exclude | inactive
        want *= 2


def _title(row: dict | None, item_id: str) -> str:
    meta = (row or {}).get("metadata", {})
    title = meta.get("title") or meta.get("name")
    return str(title) if title else item_id


def reasons(model: RecommenderModel, items: ItemStore, tenant_id: str, history: Sequence[str],
            kept: list[tuple[str, float]], rows: dict, source: str) -> list[str]:
    """One short, human-readable reason per item (titles and categories from the catalogue)."""
    anchors = model.explain(history, [i for i, _ in kept], source)
    missing = [a for a in anchors if a and a not in rows]
    if missing:
        rows = {**rows, **items.get_many(tenant_id, missing)}
    out = []
    for (item, _), anchor in zip(kept, anchors):
        category = (rows.get(item) or {}).get("metadata", {}).get("category")
        if source in ("popular", "trending"):
            word = "popular" if source == "popular" else "trending"
            out.append(f"{word} in {category}" if category else f"{word} right now")
        elif anchor:
            verb = "similar to" if source == "content-based" else "because you liked"
            out.append(f"{verb} {_title(rows.get(anchor), anchor)}")
        else:
            out.append("recommended for you")
    return out


def resolve_model(models: ModelCache, tenant_id: str, model_id: str | None) -> tuple[RecommenderModel | None, list[dict]]:
    """The pinned version when `model_id` is given (ModelNotFoundError if the tenant has none such;
    the live model with a warning if it cannot be loaded), else the live model."""
    if not model_id:
        return models.get(tenant_id), []
    try:
        return models.get_version(tenant_id, model_id), []
    except (ArtefactError, NotFoundError) as exc:
        if isinstance(exc, ModelNotFoundError):
            raise
        return models.get(tenant_id), [_warn("pinned_model_unavailable", f"model {model_id} could not be loaded: "
                                              "the live model answered")]


def popular_without_model(popularity: PopularityCache, items: ItemStore, tenant_id: str, history: Sequence[str],
                          limit: int, candidates: Sequence[str] | None) -> Result:
    """Before the first training: the tenant's recently popular items, never ones already consumed."""
    consumed = set(history)
    allowed = set(candidates) if candidates is not None else None
    ranked_all = [(i, s) for i, s in popularity.top(tenant_id)
                  if i not in consumed and (allowed is None or i in allowed)]

    def rank(n: int, exclude: set[str]) -> list[tuple[str, float]]:
        return [(i, s) for i, s in ranked_all if i not in exclude][:n]

    kept, rows = _active_top(items, tenant_id, limit, set(), rank)
    out = []
    for item, score in kept:
        category = (rows.get(item) or {}).get("metadata", {}).get("category")
        out.append({"id": item, "score": round(score, 6),
                    "reason": f"popular in {category}" if category else "popular right now"})
    warning = "no model has been trained for this tenant yet" + (": popular items returned" if out else "")
    return Result(out, [_warn("no_model", warning)], None, "popular" if out else "none")


def recommend(models: ModelCache, interactions: InteractionStore, items: ItemStore, tenant_id: str, *,
              user_id: str | None, session_id: str | None, limit: int,
              candidates: Sequence[str] | None = None, algorithm: str = "hybrid", model_id: str | None = None,
              popularity: PopularityCache | None = None, source: str = "model") -> Result:
    batch_warnings: list[dict] = []
    if source == "batch":
        precomputed = interactions.batch_list(tenant_id, user_id, algorithm) if user_id else None
        if precomputed is not None:
            return from_batch(items, tenant_id, precomputed, limit, candidates)
        batch_warnings.append(_warn("no_batch", "no precomputed list for this user and algorithm: computed live"))
    result = _recommend_live(models, interactions, items, tenant_id, user_id=user_id, session_id=session_id,
                             limit=limit, candidates=candidates, algorithm=algorithm, model_id=model_id,
                             popularity=popularity)
    result.warnings[:0] = batch_warnings
    return result


def from_batch(items: ItemStore, tenant_id: str, precomputed: dict, limit: int,
               candidates: Sequence[str] | None) -> Result:
    """A precomputed list (POST /v1/recommendations/generate), minus items deactivated since."""
    listed = [i for i in precomputed.get("items", []) if candidates is None or i["id"] in set(candidates)]
    rows = items.get_many(tenant_id, [i["id"] for i in listed])
    kept = [i for i in listed if (rows.get(i["id"]) or {}).get("active", True)][:limit]
    return Result(kept, [], precomputed.get("model_id"), "batch")


def _recommend_live(models: ModelCache, interactions: InteractionStore, items: ItemStore, tenant_id: str, *,
                    user_id: str | None, session_id: str | None, limit: int, candidates: Sequence[str] | None,
                    algorithm: str, model_id: str | None, popularity: PopularityCache | None) -> Result:
    history, weights = load_history(interactions, tenant_id, user_id, session_id)
    model, warnings = resolve_model(models, tenant_id, model_id)
    if model is None:
        if popularity is None:
            return Result([], [_warn("no_model", "no model has been trained for this tenant yet")])
        return popular_without_model(popularity, items, tenant_id, history, limit, candidates)
    if candidates is not None:
        unknown = [c for c in dict.fromkeys(candidates) if c not in model.item_index]
        if unknown:
            warnings.append(_warn("unknown_candidates", f"{len(unknown)} candidate item(s) are unknown to the model "
                                  "and were dropped"))
    sources: list[str] = []

    def rank(n: int, exclude: set[str]) -> list[tuple[str, float]]:
        ranked = model.recommend(history, weights, n, exclude=exclude, candidates=candidates, algorithm=algorithm)
        sources.append(ranked.source)
        return ranked.items

    kept, rows = _active_top(items, tenant_id, limit, set(), rank)
    source = sources[-1]
    explained = reasons(model, items, tenant_id, history, kept, rows, source)
    if source in ("popular", "trending") and algorithm not in ("popular", "trending"):
        if not history:
            code = "unknown_user" if user_id else "new_session"
            warnings.append(_warn(code, "no history for this user or session yet: popular items returned"))
        else:
            warnings.append(_warn("no_known_history", "history has no items known to the model: popular items returned"))
    return Result([{"id": i, "score": round(s, 6), "reason": r} for (i, s), r in zip(kept, explained)], warnings,
                  model.model_id, source)


def similar(models: ModelCache, items: ItemStore, tenant_id: str, item_id: str, limit: int,
            model_id: str | None = None) -> Result:
    model, pin_warnings = resolve_model(models, tenant_id, model_id)
    in_model = model is not None and item_id in model.item_index
    if not in_model and items.get(tenant_id, item_id) is None:
        raise NotFoundError(f"item {item_id!r} not found")
    if model is None:
        return Result([], [_warn("no_model", "no model has been trained for this tenant yet")])
    warnings: list[dict] = list(pin_warnings)
    rank = (lambda n, ex: model.similar(item_id, n, exclude=ex)) if in_model else \
        (lambda n, ex: model.popular(n, exclude=ex))
    kept, _ = _active_top(items, tenant_id, limit, {item_id}, rank)
    if not in_model:
        warnings.append(_warn("item_not_in_model", "the item has no interactions in the current model: "
                              "popular items returned"))
    return Result([{"id": i, "score": round(s, 6)} for i, s in kept], warnings, model.model_id,
                  "similar" if in_model else "popular")
